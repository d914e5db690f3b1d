"""Sign-off: keygen, sign, verify, tamper detection, roles, CI signing, xdist, secrets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_apexready import cli, signing
from pytest_apexready.catalog import load_catalog

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

IDS = {ids!r}

def _make(item_id):
    @check(item_id)
    def test():
        failing = Path(__file__).with_name("failing.txt").read_text().split()
        if item_id in failing:
            fail_check(item_id, observed="bad", expected="good", where="the test project")
    return test

for _id in IDS:
    globals()["test_" + _id.replace(".", "_")] = _make(_id)
'''


def make_project(pytester: pytest.Pytester, sections=(2, 3), failing=(), waived=()) -> Path:
    """A project whose checks cover every automated item of ``sections``; attestations cover the rest."""
    catalog = load_catalog()
    ids = [i.id for i in catalog.items if i.section in sections and i.kind == "automated"]
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
    pytester.makepyfile(test_checks=CHECKS.format(ids=ids))
    set_failing(pytester, failing)
    return pytester.path / "reports"


def set_failing(pytester: pytest.Pytester, failing) -> None:
    (pytester.path / "failing.txt").write_text(" ".join(failing))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def apex(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
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
            rc, out = apex(capsys, "trust", trust, tmp / "keys" / f"{name}.pub", *sum((["--role", r] for r in roles), []))
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
    assert run(pytester).parseoutcomes()["passed"] == 37
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
    record = load(reports2)
    section(record, 3)["signatures"] = []
    signing.refresh_approvals(record)
    from pytest_apexready.report import write_reports
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
    for needle in (b'"sig": "', b'"fingerprint": "', b'"payload": "', b'"status": "', b'"name": "Dana"',
                   b'"date": "', b'"id": "sha256:', b'"outcome": "passed"', b'"host"', b'"approvals"', b'"revision": 1'):
        at = original.find(needle)
        must += list(range(at, at + len(needle) + 8)) if at >= 0 else []
    sig_end = original.find(b'"', original.find(b'"sig": "') + 8)
    must += list(range(sig_end - 6, sig_end + 1)) + [len(original) - 1, len(original) - 2]
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
    assert result.parseoutcomes()["passed"] == 37
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


def _statement_sections(record: dict) -> dict[int, dict]:
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
                    for t in i["tests"]:
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
        assert result.parseoutcomes()["passed"] == 37
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
