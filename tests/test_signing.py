"""Sign-off: keygen, sign, verify, tamper detection, roles, CI signing, xdist, secrets."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_apexready import cli, signing
from pytest_apexready.catalog import load_catalog
from pytest_apexready.report import write_reports

pytest_plugins = ["pytester"]

DBA, PEL = "Database Admin", "Platform Engineering Lead"
PASSPHRASE = "correct-horse-battery-staple-42"

# Registers the sign-off plugin in a pytester project until plugin.py does it (and is harmless after).
CONFTEST = '''
import pytest
from pytest_apexready import signoff

def pytest_addoption(parser):
    group = parser.getgroup("apexready")
    if not any("--apex-rerun" in o.names() for o in group.options):
        signoff.add_options(group)

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if config.pluginmanager.get_plugin("apexready-signoff") is None:
        config.pluginmanager.register(signoff.SignoffPlugin(config), "apexready-signoff")
'''

CHECKS = '''
from pathlib import Path
from pytest_apexready import check, fail_check

CLAIMS = {claims!r}

def _make(item_id, part):
    @check(item_id, part=part)
    def test():
        failing = Path(__file__).with_name("failing.txt").read_text().split()
        if item_id in failing:
            fail_check(item_id, observed="bad", expected="good", where="the test project")
    return test

for _id, _part in CLAIMS:
    globals()["test_" + _id.replace(".", "_") + (f"_{{_part}}" if _part else "")] = _make(_id, _part)
'''


def claims(sections=(2, 3)) -> list[tuple[str, str | None]]:
    """One check per automated item of ``sections``, one per part where the catalog declares parts."""
    out: list[tuple[str, str | None]] = []
    for item in load_catalog().items:
        if item.section in sections and item.kind == "automated":
            out += [(item.id, p.name) for p in item.parts] or [(item.id, None)]
    return out


#: the checks of the default project: 37 items (3.1.4 in two parts)
CHECKS_23 = len(claims())


def make_project(pytester: pytest.Pytester, sections=(2, 3), failing=(), waived=()) -> Path:
    """A project whose checks cover every automated item of ``sections``; attestations cover the rest."""
    catalog = load_catalog()
    pytester.makefile(".toml", **{"environments/local": 'description = "t"'})
    att = "".join(f'[[attestation]]\nitem = "{i.id}"\nattested_by = "Sam (Ops)"\ndate = 2026-01-01\n'
                  f'evidence = "wiki/{i.id}"\nexpires = 2099-12-31\n\n'
                  for i in catalog.items if i.section in sections and i.kind == "attestation")
    pytester.makefile(".toml", **{"attestations/local": att or "# none"})
    wv = "".join(f'[[waiver]]\nitem = "{i}"\njustification = "ticket OPS-1"\napproved_by = "Dana (DBA)"\n'
                 f'expires = 2099-12-31\n\n' for i in waived)
    pytester.makefile(".toml", **{"waivers/local": wv or "# none"})
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_checks=CHECKS.format(claims=claims(sections)))
    set_failing(pytester, failing)
    return pytester.path / "reports"


def set_failing(pytester: pytest.Pytester, failing) -> None:
    (pytester.path / "failing.txt").write_text(" ".join(failing))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def apex(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    rc = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out + out.err


def keys(tmp: Path, capsys, trust_roles: dict[str, list[str]], passphrase: str | None = None) -> Path:
    """Make one key per name in ``trust_roles`` and a trust dir trusting each for its roles."""
    trust = tmp / "trusted"
    for name, roles in trust_roles.items():
        argv = ["keygen", tmp / "keys" / name]
        if passphrase:
            os.environ["APEX_TEST_PP"] = passphrase
            argv += ["--passphrase-env", "APEX_TEST_PP"]
        rc, out = apex(capsys, *argv)
        assert rc == 0, out
        if roles:
            role_args = [a for r in roles for a in ("--role", r)]
            rc, out = apex(capsys, "trust", trust, tmp / "keys" / f"{name}.pub", *role_args)
            assert rc == 0, out
    os.environ.pop("APEX_TEST_PP", None)
    return trust


def section(record: dict, number: int) -> dict:
    return next(s for s in record["sections"] if s["number"] == number)


def load(reports: Path) -> dict:
    return json.loads((reports / "checklist.json").read_text())


# -----------------------------------------------------------------------------------------------
def test_keygen_writes_0600_and_encrypts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PP", PASSPHRASE)
    rc, out = apex(capsys, "keygen", tmp_path / "k" / "alice", "--passphrase-env", "PP")
    assert rc == 0
    key = tmp_path / "k" / "alice.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    assert PASSPHRASE not in out and key.read_text().splitlines()[1] not in out
    with pytest.raises(signing.SigningError, match="encrypted"):
        signing.load_private_key(str(key))
    with pytest.raises(signing.SigningError, match="passphrase is wrong") as exc:
        signing.load_private_key(str(key), b"nope")
    assert "nope" not in str(exc.value)
    k = signing.load_private_key(str(key), PASSPHRASE.encode())
    assert signing.fingerprint(k.public_key()) in out
    rc, out = apex(capsys, "keygen", tmp_path / "k" / "alice")
    assert rc == 2 and "exists" in out


def test_sign_verify_round_trip_and_rendering(pytester, tmp_path, capsys):
    reports = make_project(pytester)
    assert run(pytester).parseoutcomes()["passed"] == CHECKS_23
    trust = keys(tmp_path, capsys, {"dana": [DBA], "pat": [PEL]})
    rc, out = apex(capsys, "sign", reports, "--role", DBA, "--name", "Dana Lee", "--key", tmp_path / "keys/dana.key")
    assert rc == 0, out
    assert "signed section 2" in out
    rc, out = apex(capsys, "sign", reports, "--role", PEL, "--name", "Pat Kim", "--key", tmp_path / "keys/pat.key")
    assert rc == 0, out
    rc, out = apex(capsys, "verify", reports, "--trust", trust)
    assert rc == 0, out
    assert "verification passed" in out
    record = load(reports)
    sig = section(record, 2)["signatures"][-1]
    assert (sig["name"], sig["role"], sig["status"]) == ("Dana Lee", DBA, "valid")
    md = (reports / "checklist.md").read_text()
    html = (reports / "checklist.html").read_text()
    for text in (md, html):
        assert "Dana Lee" in text and sig["fingerprint"] in text and sig["date"] in text and "Pat Kim" in text
    row = next(a for a in record["approvals"] if a["role"] == DBA)
    assert row["name"] == "Dana Lee" and row["signature"].startswith(sig["fingerprint"])
    assert f"| {DBA} | Dana Lee | {sig['fingerprint']}" in md
    # the archive is one file that verifies on its own
    rc, out = apex(capsys, "verify", reports / "checklist.signed.json", "--trust", trust)
    assert rc == 0, out
    rc, out = apex(capsys, "show", reports)
    assert rc == 0 and "valid: Dana Lee (Database Admin)" in out and "passed 37" in out


def test_the_signed_statement_verifies_with_standard_primitives(pytester, tmp_path, capsys):
    """What docs/signing.md tells a third party to do, done with nothing but cryptography and json."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    reports = make_project(pytester, sections=(2,))
    run(pytester)
    keys(tmp_path, capsys, {"dana": [DBA]})
    apex(capsys, "sign", reports, "--role", DBA, "--name", "Dana", "--key", tmp_path / "keys/dana.key")
    record = load(reports)
    env = section(record, 2)["signatures"][0]["envelope"]
    body = base64.b64decode(env["payload"])
    t = env["payloadType"].encode()
    pae = b"DSSEv1 " + str(len(t)).encode() + b" " + t + b" " + str(len(body)).encode() + b" " + body
    pub = load_pem_public_key((tmp_path / "keys/dana.pub").read_bytes())
    pub.verify(base64.b64decode(env["signatures"][0]["sig"]), pae)
    statement = json.loads(body)
    sec = {k: v for k, v in section(record, 2).items() if k != "signatures"}
    assert statement["section"] == sec
    assert statement["run"]["started"] == record["run"]["started"]
    assert statement["environment"]["name"] == "local"
    assert set(statement["revision"]) == {"number", "id", "previous"}
    from cryptography.hazmat.primitives import serialization
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert env["signatures"][0]["keyid"] == "sha256:" + hashlib.sha256(der).hexdigest()
    # the revision id is the hash of the canonical record without signatures, approvals and itself
    body = {k: v for k, v in record.items() if k != "approvals"}
    body["sections"] = [{k: v for k, v in s.items() if k != "signatures"} for s in record["sections"]]
    body["revision"] = {k: v for k, v in record["revision"].items() if k != "id"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert record["revision"]["id"] == "sha256:" + hashlib.sha256(canon).hexdigest()


def test_a_section_that_is_not_ready_cannot_be_signed(pytester, tmp_path, capsys):
    reports = make_project(pytester, failing=["2.1.2", "2.3.1"])
    run(pytester)
    trust = keys(tmp_path, capsys, {"dana": [DBA]})
    rc, out = apex(capsys, "sign", reports, "--role", DBA, "--name", "Dana", "--key", tmp_path / "keys/dana.key")
    assert rc == 1
    assert "REFUSED section 2 (Database Preparation)" in out and "2.1.2 (failed), 2.3.1 (failed)" in out
    assert section(load(reports), 2)["signatures"] == []
    rc, out = apex(capsys, "verify", reports, "--trust", trust)
    assert rc == 1 and "no valid signature" in out
    rc, out = apex(capsys, "sign", reports, "--role", "Janitor", "--name", "X", "--key", tmp_path / "keys/dana.key")
    assert rc == 2 and "roles are" in out


def test_wrong_role_and_untrusted_key_fail_verify(pytester, tmp_path, capsys):
    reports = make_project(pytester)
    run(pytester)
    trust = keys(tmp_path, capsys, {"dana": [DBA], "mallory": []})
    # Dana's key is trusted for Database Admin only, and signs section 3 as Platform Engineering Lead
    rc, out = apex(capsys, "sign", reports, "--role", PEL, "--name", "Dana", "--key", tmp_path / "keys/dana.key")
    assert rc == 0
    rc, out = apex(capsys, "verify", reports, "--trust", trust)
    assert rc == 1
    assert "section 3 (Application Deployment)" in out and "trusted for Database Admin, not for " + PEL in out
    # an untrusted key
    reports2 = reports
    record, _, _ = signing.load_record(reports2)
    record = record.with_section(dataclasses.replace(record.section(3), signatures=()))
    write_reports(record, reports2)
    rc, out = apex(capsys, "sign", reports2, "--role", DBA, "--name", "Mal", "--key", tmp_path / "keys/mallory.key")
    assert rc == 0
    rc, out = apex(capsys, "verify", reports2, "--trust", trust)
    assert rc == 1 and "section 2 (Database Preparation)" in out and "untrusted key" in out


def _signed_record(pytester, tmp_path, capsys) -> tuple[Path, Path]:
    reports = make_project(pytester, sections=(2,))
    run(pytester)
    trust = keys(tmp_path, capsys, {"dana": [DBA]})
    rc, out = apex(capsys, "sign", reports, "--role", DBA, "--name", "Dana", "--key", tmp_path / "keys/dana.key")
    assert rc == 0, out
    assert signing.verify_path(reports, signing.load_trust(trust)).ok
    return reports, trust


def _positions(data: bytes, n: int, must: list[int]) -> list[int]:
    step = max(1, len(data) // n)
    return sorted(set(list(range(0, len(data), step)) + [p for p in must if 0 <= p < len(data)]))


@pytest.mark.parametrize("target", ["checklist.json", "checklist.signed.json"])
def test_changing_any_single_byte_fails_verify(pytester, tmp_path, capsys, target):
    reports, trust_dir = _signed_record(pytester, tmp_path, capsys)
    trust = signing.load_trust(trust_dir)
    path = reports / target
    original = path.read_bytes()
    # spread positions over the file, plus every byte of the signature envelope's tail and of key fields
    must = []
    for needle in (b'"sig": "', b'"fingerprint": "', b'"payload": "', b'"status": "', b'"name": "Dana"', b'"date": "',
                   b'"id": "sha256:', b'"outcome": "passed"', b'"host"', b'"approvals"', b'"revision": 1'):
        at = original.find(needle)
        must += list(range(at, at + len(needle) + 8)) if at >= 0 else []
    sig_end = original.find(b'"', original.find(b'"sig": "') + 8)
    must += [*range(sig_end - 6, sig_end + 1), len(original) - 1, len(original) - 2]
    positions = _positions(original, 500, must)
    assert len(positions) > 500
    survived = []
    for pos in positions:
        for flip in (0x01, 0x20):
            data = bytearray(original)
            data[pos] ^= flip
            path.write_bytes(bytes(data))
            if signing.verify_path(path, trust).ok:
                survived.append((pos, flip, original[max(0, pos - 20):pos + 20]))
    path.write_bytes(original)
    assert not survived, survived[:5]
    assert signing.verify_path(path, trust).ok


def test_ci_run_signs_with_key_from_env_and_never_shows_it(pytester, tmp_path, capsys, monkeypatch):
    reports = make_project(pytester)
    trust = keys(tmp_path, capsys, {"ci": [DBA, PEL]}, passphrase=PASSPHRASE)
    pem = (tmp_path / "keys/ci.key").read_text()
    monkeypatch.setenv("APEX_SIGN_KEY", pem)
    monkeypatch.setenv("APEX_SIGN_PP", PASSPHRASE)
    result = run(pytester, "--apex-sign-key", "env:APEX_SIGN_KEY", "--apex-sign-passphrase-env", "APEX_SIGN_PP",
                 "--apex-signer", f"{DBA}=CI Bot", "--apex-signer", f"{PEL}=CI Bot")
    assert result.parseoutcomes()["passed"] == CHECKS_23
    output = "\n".join(result.outlines + result.errlines)
    assert "section 2 (Database Preparation) signed by CI Bot" in output
    rc, out = apex(capsys, "verify", reports, "--trust", trust)
    assert rc == 0, out
    secrets = [PASSPHRASE] + [line for line in pem.splitlines() if "-----" not in line]
    for f in reports.iterdir():
        text = f.read_text()
        assert not any(s in text for s in secrets), f
    assert not any(s in output for s in secrets)
    # a wrong passphrase is a usage error that names neither the key nor the passphrase
    monkeypatch.setenv("APEX_SIGN_PP", "wrong-" + PASSPHRASE)
    result = run(pytester, "--apex-sign-key", "env:APEX_SIGN_KEY", "--apex-sign-passphrase-env", "APEX_SIGN_PP",
                 "--apex-signer", f"{DBA}=CI Bot")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = "\n".join(result.outlines + result.errlines)
    assert "passphrase is wrong" in output
    assert not any(s in output for s in secrets)


def test_ci_refuses_a_section_that_is_not_ready(pytester, tmp_path, capsys):
    reports = make_project(pytester, failing=["3.1.1"])
    trust = keys(tmp_path, capsys, {"ci": [DBA, PEL]})
    result = run(pytester, f"--apex-sign-key={tmp_path / 'keys/ci.key'}",
                 "--apex-signer", f"{DBA}=CI Bot", "--apex-signer", f"{PEL}=CI Bot")
    result.stdout.fnmatch_lines(["*section 3 (Application Deployment) NOT signed*blocked by 3.1.1 (failed)*"])
    record = load(reports)
    assert section(record, 3)["signatures"] == [] and len(section(record, 2)["signatures"]) == 1
    rc, out = apex(capsys, "verify", reports, "--trust", trust)
    assert rc == 0, out


def _statement_sections(record: dict) -> dict[int, tuple]:
    """Signed section content, without what legitimately differs between two runs."""
    import base64

    out = {}
    for sec in record["sections"]:
        for sig in sec["signatures"]:
            stmt = json.loads(base64.b64decode(sig["envelope"]["payload"]))
            content = stmt["section"]
            for g in content["groups"]:
                for i in g["items"]:
                    i.pop("produced_by")
                    for t in i["tests"] + [t for p in i.get("parts", []) for t in p["tests"]]:
                        t.pop("duration_s")
            out[sec["number"]] = (sig["role"], sig["name"], sig["status"], content)
    return out


def test_xdist_run_signs_and_verifies_like_a_serial_one(pytester, tmp_path, capsys):
    make_project(pytester)
    trust = keys(tmp_path, capsys, {"ci": [DBA, PEL]})
    records = {}
    for name, extra in (("serial", []), ("xdist", ["-n", "2"])):
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--apex-report", name, f"--apex-sign-key={tmp_path / 'keys/ci.key'}",
            "--apex-signer", f"{DBA}=CI Bot", "--apex-signer", f"{PEL}=CI Bot", *extra)
        assert result.parseoutcomes()["passed"] == CHECKS_23
        rc, out = apex(capsys, "verify", pytester.path / name, "--trust", trust)
        assert rc == 0, out
        records[name] = load(pytester.path / name)
    assert "-n" in records["xdist"]["run"]["args"]
    serial, xdist = (_statement_sections(records[n]) for n in ("serial", "xdist"))
    assert set(serial) == set(xdist) == {2, 3}
    assert serial == xdist


def test_python_dash_m_entry_point(pytester, tmp_path):
    out = subprocess.run([sys.executable, "-m", "pytest_apexready", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("keygen", "sign", "verify", "show", "export", "trust"):
        assert command in out.stdout


# -- the DSSE specification's test vector -----------------------------------------------------------
def test_pae_and_signature_match_the_dsse_specification_test_vector():
    """protocol.md "Test Vectors" of https://github.com/secure-systems-lab/dsse (v1.0.2): the published ECDSA
    P-256 signature verifies over the PAE this package computes, so the PAE is the specification's, byte for byte."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from pytest_apexready.signing import dsse

    body, payload_type = b"hello world", "http://example.com/HelloWorld"
    assert dsse.pae(payload_type, body) == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    x = 46950820868899156662930047687818585632848591499744589407958293238635476079160
    y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raw = base64.b64decode("A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))  # raw r||s
    public.verify(der, dsse.pae(payload_type, body), ec.ECDSA(hashes.SHA256()))
    assert dsse.b64(body) == "aGVsbG8gd29ybGQ="  # the vector's payload
    # LEN is the byte length of the UTF-8 type and of the body; an empty body ends in a space
    assert dsse.pae("application/vnd.exämple", b"") == "DSSEv1 24 application/vnd.exämple 0 ".encode()


def test_envelopes_are_opened_strictly():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pytest_apexready.signing import dsse

    key = Ed25519PrivateKey.generate()
    env = dsse.make_envelope(key, "kid", b'{"a":1}')
    body, keyid, sig = dsse.open_envelope(env)
    key.public_key().verify(sig, dsse.pae(dsse.PAYLOAD_TYPE, body))
    assert (body, keyid) == (b'{"a":1}', "kid")
    for bad in ({**env, "extra": 1}, {**env, "payloadType": "application/json"},
                {**env, "signatures": env["signatures"] * 2},
                {**env, "payload": env["payload"].replace("=", "") or "x"},  # not canonical base64
                {**env, "payload": dsse.b64(b"\xfb\xff").replace("+", "-").replace("/", "_")}):  # URL-safe
        with pytest.raises(ValueError):
            dsse.open_envelope(bad)


# -- a record signed before the typed record ----------------------------------------------------------
OLD = Path(__file__).parent / "data" / "signed-v1"


def test_a_record_signed_before_the_typed_record_still_verifies(tmp_path, capsys, monkeypatch):
    """tests/data/signed-v1 was signed (and rerun into revision 2) by commit 4dc8cc7's code; see its README."""
    import shutil

    from pytest_apexready import catalog

    trust = signing.load_trust(OLD / "trusted")
    for path in (OLD, OLD / "checklist.signed.json"):
        result = signing.verify_path(path, trust)
        assert result.ok and not result.problems, result.problems
        assert len(result.valid) == 2
    # read and written back byte for byte, by the typed record
    for rel in ("checklist.json", "revisions/r1.json"):
        text = (OLD / rel).read_text("utf-8")
        assert signing.record_text(json.loads(text)) == text
        from pytest_apexready.record import Record
        assert Record.loads(text).text() == text
    record, _, _ = signing.load_record(OLD)
    assert [s.is_valid for s in record.section(2).signatures + record.section(3).signatures] == [True, True]
    assert record.item("2.1.2").outcome == "waived" and record.item("3.1.1").produced_by.revision == 2
    # the approval roles are the record's own: verification does not read the installed catalog
    monkeypatch.setattr(catalog, "load_catalog", lambda: pytest.fail("verification must not read the catalog"))
    assert signing.verify_path(OLD, trust).ok
    monkeypatch.undo()
    # re-rendered and re-exported by today's code, it still verifies (and so does a byte changed in it, not)
    work = tmp_path / "reports"
    shutil.copytree(OLD, work)
    write_reports(record, work)
    assert "Dana Lee" in (work / "checklist.md").read_text() and "Pat Kim" in (work / "checklist.html").read_text()
    assert (work / "checklist.json").read_bytes() == (OLD / "checklist.json").read_bytes()
    rc, out = apex(capsys, "export", work, "--trust", OLD / "trusted")
    assert rc == 0, out
    rc, out = apex(capsys, "verify", work / "checklist.signed.json", "--trust", OLD / "trusted")
    assert rc == 0, out
    rc, out = apex(capsys, "show", work, "--trust", OLD / "trusted")
    assert rc == 0 and "valid: Pat Kim (Platform Engineering Lead)" in out and "verification passed" in out
    data = (work / "checklist.json").read_bytes()
    at = data.find(b'"outcome": "passed"')
    (work / "checklist.json").write_bytes(data[:at] + data[at:].replace(b"passed", b"failed", 1))
    assert not signing.verify_path(work, trust).ok
