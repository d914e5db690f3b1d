"""Per-role ed25519 sign-off of checklist sections: keys, envelopes, revisions, verification.

The format is documented in ``docs/signing.md``. In short:

* every record carries ``revision`` = ``{"number", "id", "previous"}``; ``id`` is
  ``sha256:`` + hex SHA-256 of the canonical JSON of the record without ``approvals``,
  without each section's ``signatures`` and without ``revision.id``;
* a signature is a DSSE envelope (payloadType :data:`PAYLOAD_TYPE`) whose payload is the
  canonical JSON of a *statement*: the section (items, outcomes, evidence, provenance),
  the environment, the run (start, end, tool version, git commit), the revision (its id and
  the id of the previous one) and the signer; it is signed with ed25519 over the DSSE PAE;
* canonical JSON = ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
  encoded as UTF-8;
* key fingerprint = ``sha256:`` + hex SHA-256 of the DER SubjectPublicKeyInfo.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import outcomes as oc

__all__ = [
    "SigningError", "PAYLOAD_TYPE", "STATEMENT_TYPE", "ARCHIVE_SCHEMA", "canonical", "record_text", "fingerprint",
    "generate_keypair", "write_keypair", "load_private_key", "load_public_key", "pae", "make_envelope",
    "open_envelope", "revision_digest", "ensure_revision", "refresh_derived", "refresh_approvals", "sign_role",
    "load_trust", "TrustedKey", "verify_record", "verify_path", "Verification", "export_archive", "load_record",
    "merge_rerun", "RERUN_OUTCOMES", "section_roles",
]

PAYLOAD_TYPE = "application/vnd.apexready.signoff+json"
STATEMENT_TYPE = "apexready.section-signoff/v1"
ARCHIVE_SCHEMA = "apexready.signed-checklist/v1"
ARCHIVE_NAME = "checklist.signed.json"
RECORD_NAME = "checklist.json"
REVISIONS_DIR = "revisions"
#: outcomes a rerun runs again
RERUN_OUTCOMES = frozenset({oc.FAILED, oc.ERROR, oc.AWAITING})
_ENTRY_KEYS = {"role", "name", "date", "fingerprint", "status", "revision", "envelope"}


class SigningError(Exception):
    """A user-facing problem (bad key, wrong passphrase, missing record). Never carries key material."""


# -- canonical forms ------------------------------------------------------------------------
def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def record_text(record: dict[str, Any]) -> str:
    """The exact bytes of checklist.json (as report.write_reports writes them)."""
    return json.dumps(record, indent=2, sort_keys=False) + "\n"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    """Strict base64: only the canonical encoding of some bytes is accepted."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if _b64(data) != text:
        raise ValueError("not canonical base64")
    return data


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- keys -------------------------------------------------------------------------------------
def fingerprint(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _sha256(der)


def _public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_keypair(passphrase: bytes | None = None) -> tuple[bytes, bytes, str]:
    key = Ed25519PrivateKey.generate()
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    return private_pem, _public_pem(key.public_key()), fingerprint(key.public_key())


def write_keypair(prefix: Path, passphrase: bytes | None = None, force: bool = False) -> tuple[Path, Path, str]:
    """Write ``PREFIX.key`` (mode 0600) and ``PREFIX.pub``; return both paths and the fingerprint."""
    private_pem, public_pem, fp = generate_keypair(passphrase)
    key_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for p in (key_path, pub_path):
        if p.exists() and not force:
            raise SigningError(f"{p} exists; pass --force to replace it")
    key_path.parent.mkdir(parents=True, exist_ok=True)
    if force and key_path.exists():
        key_path.unlink()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private_pem)
    finally:
        os.close(fd)
    pub_path.write_bytes(public_pem)
    return key_path, pub_path, fp


def load_private_key(spec: str, passphrase: bytes | None = None,
                     environ: dict[str, str] | None = None) -> Ed25519PrivateKey:
    """``spec`` is a path to a PEM file, or ``env:VAR`` for a PEM held in an environment variable."""
    environ = os.environ if environ is None else environ
    if spec.startswith("env:"):
        var = spec[4:]
        if not environ.get(var):
            raise SigningError(f"environment variable {var} (signing key) is not set or empty")
        data, where = environ[var].encode("utf-8"), f"environment variable {var}"
    else:
        path = Path(spec)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read signing key {path}: {exc.strerror}") from None
        where = str(path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        if passphrase:
            raise SigningError(f"the signing key in {where} is not encrypted; do not give a passphrase") from None
        raise SigningError(f"the signing key in {where} is encrypted; give its passphrase "
                           "(--passphrase-env VAR, or --apex-sign-passphrase-env VAR in pytest)") from None
    except ValueError:
        raise SigningError(f"cannot load the signing key in {where}: not a PEM private key, "
                           "or the passphrase is wrong") from None
    except Exception:  # unsupported algorithms and the like; never echo the data
        raise SigningError(f"cannot load the signing key in {where}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"the signing key in {where} is not an ed25519 key")
    return key


def load_public_key(data: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise SigningError(f"{where} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{where} is not an ed25519 public key")
    return key


# -- DSSE envelope ------------------------------------------------------------------------------
def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def make_envelope(key: Ed25519PrivateKey, statement: dict[str, Any]) -> dict[str, Any]:
    body = canonical(statement)
    sig = key.sign(pae(PAYLOAD_TYPE, body))
    return {"payloadType": PAYLOAD_TYPE, "payload": _b64(body),
            "signatures": [{"keyid": fingerprint(key.public_key()), "sig": _b64(sig)}]}


def open_envelope(envelope: Any) -> tuple[bytes, str, bytes]:
    if not isinstance(envelope, dict) or set(envelope) != {"payloadType", "payload", "signatures"}:
        raise ValueError("envelope must have exactly payloadType, payload, signatures")
    if envelope["payloadType"] != PAYLOAD_TYPE:
        raise ValueError(f"payloadType is not {PAYLOAD_TYPE}")
    sigs = envelope["signatures"]
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict) \
            or set(sigs[0]) != {"keyid", "sig"}:
        raise ValueError("envelope must carry exactly one {keyid, sig}")
    try:
        body, sig = _unb64(envelope["payload"]), _unb64(sigs[0]["sig"])
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise ValueError(f"bad base64 ({exc})") from None
    return body, str(sigs[0]["keyid"]), sig


# -- revisions and derived fields -------------------------------------------------------------
def section_content(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k != "signatures"}


def revision_digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "approvals"}
    body["sections"] = [section_content(s) for s in record["sections"]]
    body["revision"] = {k: v for k, v in record["revision"].items() if k != "id"}
    return _sha256(canonical(body))


def header(record: dict[str, Any]) -> dict[str, Any]:
    """What a signature binds besides its section: revision, environment, run."""
    rev = record["revision"]
    return {"revision": {"number": rev["number"], "id": rev["id"], "previous": rev["previous"]},
            "environment": record["environment"], "run": record["run"]}


def _items(section: dict[str, Any]):
    for group in section["groups"]:
        yield from group["items"]


def ensure_revision(record: dict[str, Any]) -> None:
    """Give a record that has none a first revision (and provenance for its items)."""
    if "revision" in record:
        return
    for sec in record["sections"]:
        for item in _items(sec):
            item.setdefault("produced_by", {"revision": 1, "run_started": record["run"]["started"]})
    record.setdefault("revisions", [])
    record["revision"] = {"number": 1, "previous": None, "id": None}
    record["revision"]["id"] = revision_digest(record)


def refresh_derived(record: dict[str, Any]) -> None:
    """Recompute counts, ready, blocking and the summary from the items (after a merge)."""
    totals = {o: 0 for o in oc.OUTCOMES}
    for sec in record["sections"]:
        counts = {o: 0 for o in oc.OUTCOMES}
        blocking = []
        for item in _items(sec):
            counts[item["outcome"]] += 1
            totals[item["outcome"]] += 1
            if item["outcome"] not in oc.SIGNABLE:
                blocking.append(item["id"])
        sec["counts"], sec["blocking"], sec["ready"] = counts, blocking, not blocking
    record["summary"] = {
        "items": sum(totals.values()), "outcomes": totals,
        "sections_ready": [s["number"] for s in record["sections"] if s["ready"]],
        "ready": all(s["ready"] for s in record["sections"] if s["number"] <= 10),
    }


def _latest_valid(section: dict[str, Any]) -> dict[str, Any] | None:
    valid = [s for s in section.get("signatures", []) if s.get("status") == "valid"]
    return valid[-1] if valid else None


def expected_approvals(record: dict[str, Any], roles: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    out = []
    for role in roles:
        secs = [s for s in record["sections"] if s["sign_off_role"] == role]
        signed = [(s["number"], _latest_valid(s)) for s in secs]
        sigs = [sig for _, sig in signed if sig is not None]
        entry: dict[str, Any] = {"role": role, "sections": [s["number"] for s in secs],
                                 "ready": all(s["ready"] for s in secs), "name": None, "date": None, "signature": None}
        if sigs:
            names = list(dict.fromkeys(s["name"] for s in sigs))
            fps = list(dict.fromkeys(s["fingerprint"] for s in sigs))
            unsigned = [str(n) for n, sig in signed if sig is None]
            entry["name"] = ", ".join(names)
            entry["date"] = max(s["date"] for s in sigs)
            entry["signature"] = ", ".join(fps) + (f" (section {', '.join(unsigned)} unsigned)" if unsigned else "")
        out.append(entry)
    return out


def _approval_roles(record: dict[str, Any]) -> tuple[str, ...]:
    from .catalog import load_catalog

    return load_catalog().approval_roles


def refresh_approvals(record: dict[str, Any]) -> None:
    record["approvals"] = expected_approvals(record, _approval_roles(record))


def section_roles(record: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(s["sign_off_role"] for s in record["sections"]))


# -- signing ---------------------------------------------------------------------------------------
@dataclass
class SignResult:
    signed: list[dict[str, Any]] = field(default_factory=list)            # sections signed
    refused: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)  # (section, "id (outcome)")


def blocking_items(section: dict[str, Any]) -> list[str]:
    return [f"{i['id']} ({i['outcome']})" for i in _items(section) if i["outcome"] not in oc.SIGNABLE]


def check_integrity(record: dict[str, Any]) -> None:
    if revision_digest(record) != record["revision"]["id"]:
        raise SigningError("the record's content does not match its revision id: it was changed after it was "
                           "written; refusing to sign or merge it")


def sign_role(record: dict[str, Any], role: str, name: str, key: Ed25519PrivateKey,
              date: str | None = None) -> SignResult:
    """Sign every ready section owned by ``role`` (in place); refuse those that are not ready."""
    roles = section_roles(record)
    if role not in roles:
        raise SigningError(f"no section is signed off by {role!r}; roles are: {', '.join(roles)}")
    if not name.strip():
        raise SigningError("the signer's name is empty")
    ensure_revision(record)
    check_integrity(record)
    date = date or now_utc()
    fp = fingerprint(key.public_key())
    result = SignResult()
    for sec in record["sections"]:
        if sec["sign_off_role"] != role:
            continue
        blocking = blocking_items(sec)
        if blocking:
            result.refused.append((sec, blocking))
            continue
        statement = {"_type": STATEMENT_TYPE, "schema": record["schema"], **header(record),
                     "section": section_content(sec), "signer": {"role": role, "name": name, "key": fp},
                     "signed_at": date}
        sec.setdefault("signatures", []).append({
            "role": role, "name": name, "date": date, "fingerprint": fp, "status": "valid",
            "revision": record["revision"]["number"], "envelope": make_envelope(key, statement)})
        result.signed.append(sec)
    refresh_approvals(record)
    return result


# -- trust -----------------------------------------------------------------------------------------
@dataclass
class TrustedKey:
    file: str
    fingerprint: str
    roles: tuple[str, ...]
    key: Ed25519PublicKey
    pem: bytes


def load_trust(keys_dir: Path) -> dict[str, TrustedKey]:
    """``KEYS_DIR/trust.toml``: ``[[key]] file = "alice.pub"  roles = ["Database Admin"]``."""
    path = keys_dir / "trust.toml"
    if not path.is_file():
        raise SigningError(f"{path} not found: list the trusted keys there as [[key]] file = \"NAME.pub\", "
                           "roles = [\"ROLE\", ...]  (apexready trust adds one)")
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SigningError(f"{path} is not valid TOML: {exc}") from None
    trusted: dict[str, TrustedKey] = {}
    for n, entry in enumerate(data.get("key", []), 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) \
                or not isinstance(entry.get("roles"), list) or not all(isinstance(r, str) for r in entry["roles"]):
            raise SigningError(f"{path} [[key]] #{n}: needs file = \"NAME.pub\" and roles = [\"ROLE\", ...]")
        pem_path = keys_dir / entry["file"]
        try:
            pem = pem_path.read_bytes()
        except OSError as exc:
            raise SigningError(f"{path} [[key]] #{n}: cannot read {pem_path}: {exc.strerror}") from None
        key = load_public_key(pem, str(pem_path))
        fp = fingerprint(key)
        if "fingerprint" in entry and entry["fingerprint"] != fp:
            raise SigningError(f"{path} [[key]] #{n}: {entry['file']} has fingerprint {fp}, "
                               f"not the pinned {entry['fingerprint']}")
        if fp in trusted:
            roles = tuple(dict.fromkeys(trusted[fp].roles + tuple(entry["roles"])))
            trusted[fp] = TrustedKey(trusted[fp].file, fp, roles, key, pem)
        else:
            trusted[fp] = TrustedKey(entry["file"], fp, tuple(entry["roles"]), key, pem)
    return trusted


def add_trust(keys_dir: Path, public_key_file: Path, roles: list[str]) -> tuple[Path, str]:
    key = load_public_key(public_key_file.read_bytes(), str(public_key_file))
    fp = fingerprint(key)
    keys_dir.mkdir(parents=True, exist_ok=True)
    dest = keys_dir / public_key_file.name
    if dest.resolve() != public_key_file.resolve():
        if dest.exists() and dest.read_bytes() != public_key_file.read_bytes():
            raise SigningError(f"{dest} exists and holds another key")
        dest.write_bytes(public_key_file.read_bytes())
    trust = keys_dir / "trust.toml"
    text = trust.read_text("utf-8") if trust.exists() else "# trusted sign-off keys (apexready verify --trust)\n"
    text += (f"\n[[key]]\nfile = {json.dumps(dest.name)}\nfingerprint = {json.dumps(fp)}\n"
             f"roles = [{', '.join(json.dumps(r) for r in roles)}]\n")
    trust.write_text(text, "utf-8")
    return dest, fp


# -- loading, archives ---------------------------------------------------------------------------------
def load_record(path: Path) -> tuple[dict[str, Any], Path, str]:
    """(record, report directory, exact text) from a report directory or a checklist.json."""
    file = path / RECORD_NAME if path.is_dir() else path
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeError) as exc:
        raise SigningError(f"cannot read {file}: {exc}") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SigningError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("schema") != "apexready.checklist/v1":
        raise SigningError(f"{file} is not an apexready checklist record")
    return record, file.parent, text


def previous_revisions(outdir: Path) -> list[dict[str, Any]]:
    folder = outdir / REVISIONS_DIR
    if not folder.is_dir():
        return []
    revs = [json.loads(p.read_text("utf-8")) for p in folder.glob("r*.json")]
    return sorted(revs, key=lambda r: r["revision"]["number"])


def _existing_keys(outdir: Path) -> dict[str, str]:
    try:
        return dict(json.loads((outdir / ARCHIVE_NAME).read_text("utf-8")).get("public_keys", {}))
    except (ValueError, OSError, AttributeError):
        return {}


def _write_archive(record: dict[str, Any], outdir: Path, keys: dict[str, str], dest: Path) -> Path:
    used = {sig.get("fingerprint") for sec in record["sections"] for sig in sec.get("signatures", [])}
    archive = {"schema": ARCHIVE_SCHEMA, "record": record, "previous_revisions": previous_revisions(outdir),
               "public_keys": {k: keys[k] for k in sorted(keys) if k in used}}
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(record_text(archive), "utf-8")
    tmp.replace(dest)
    return dest


def export_archive(record: dict[str, Any], outdir: Path, dest: Path | None = None,
                   trust: dict[str, TrustedKey] | None = None) -> Path:
    """One file for the audit trail: the record, its earlier revisions, the signers' public keys."""
    keys = _existing_keys(outdir)
    keys.update({fp: tk.pem.decode("ascii") for fp, tk in (trust or {}).items()})
    return _write_archive(record, outdir, keys, dest or outdir / ARCHIVE_NAME)


def public_keys_for_archive(key: Ed25519PrivateKey) -> dict[str, str]:
    return {fingerprint(key.public_key()): _public_pem(key.public_key()).decode("ascii")}


def write_signed(record: dict[str, Any], outdir: Path, extra_keys: dict[str, str] | None = None) -> list[Path]:
    """Re-render checklist.json/.md/.html and write the archive after signing."""
    from .report import write_reports

    paths = write_reports(record, outdir)
    keys = _existing_keys(outdir)
    keys.update(extra_keys or {})
    return [*paths, _write_archive(record, outdir, keys, outdir / ARCHIVE_NAME)]


# -- verification -----------------------------------------------------------------------------------
@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    valid: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.valid)


def _sec_name(sec: dict[str, Any]) -> str:
    return f"section {sec.get('number')} ({sec.get('title')})"


def verify_path(path: Path, trust: dict[str, TrustedKey]) -> Verification:
    result = Verification()
    file = path / RECORD_NAME if path.is_dir() else path
    try:
        raw = file.read_bytes()
        text = raw.decode("utf-8")
        doc = json.loads(text)
    except (OSError, UnicodeError, json.JSONDecodeError) as exc:
        result.problems.append(f"{file}: cannot read it as JSON: {exc}")
        return result
    if not isinstance(doc, dict):
        result.problems.append(f"{file}: not a checklist record")
        return result
    if record_text(doc) != text:
        result.problems.append(f"{file}: the bytes are not the canonical form of the record "
                               "(something was changed outside the values)")
    if doc.get("schema") == ARCHIVE_SCHEMA:
        _verify_archive(doc, trust, result, file)
    else:
        verify_record(doc, trust, result)
    return result


def _verify_archive(doc: dict[str, Any], trust: dict[str, TrustedKey], result: Verification, file: Path) -> None:
    if set(doc) != {"schema", "record", "previous_revisions", "public_keys"}:
        result.problems.append(f"{file}: the archive must hold exactly schema, record, previous_revisions, public_keys")
        return
    record = doc["record"]
    verify_record(record, trust, result)
    try:
        history = {h["revision"]["number"]: h for h in record.get("revisions", [])}
        for prev in doc["previous_revisions"]:
            number = prev["revision"]["number"]
            if revision_digest(prev) != prev["revision"]["id"]:
                result.problems.append(f"archive: revision {number} does not match its id (changed)")
            elif number not in history or header(prev) != history[number]:
                result.problems.append(f"archive: revision {number} is not the one this record's history names")
        for fp, pem in doc["public_keys"].items():
            if fingerprint(load_public_key(pem.encode("ascii"), f"archive key {fp}")) != fp:
                result.problems.append(f"archive: public key listed as {fp} has another fingerprint")
    except (KeyError, TypeError, AttributeError, SigningError, UnicodeError) as exc:
        result.problems.append(f"archive: malformed ({exc})")


def verify_record(record: Any, trust: dict[str, TrustedKey], result: Verification | None = None) -> Verification:
    result = result or Verification()
    try:
        _verify_record(record, trust, result)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        result.problems.append(f"record: malformed ({type(exc).__name__}: {exc})")
    return result


def _verify_record(record: dict[str, Any], trust: dict[str, TrustedKey], result: Verification) -> None:
    problems = result.problems
    if record.get("schema") != "apexready.checklist/v1":
        problems.append("record: not an apexready.checklist/v1 record")
        return
    if "revision" not in record:
        problems.append("record: it has no revision block, so nothing in it was signed")
        return
    rev = record["revision"]
    if set(rev) != {"number", "id", "previous"}:
        problems.append("record: the revision block must hold exactly number, id, previous")
    if revision_digest(record) != rev["id"]:
        problems.append(f"record: its content does not match revision id {rev['id']} (changed after it was written)")
    # the chain of revisions
    headers = {}
    prev_id = None
    for n, h in enumerate(record.get("revisions", []), 1):
        if set(h) != {"revision", "environment", "run"} or h["revision"]["number"] != n \
                or h["revision"]["previous"] != prev_id:
            problems.append(f"record: revision history entry {n} is inconsistent")
        headers[h["revision"]["number"]] = h
        prev_id = h["revision"]["id"]
    if rev["number"] != len(headers) + 1 or rev["previous"] != prev_id:
        problems.append("record: the revision number or previous id does not follow its history")
    current = header(record)
    headers[rev["number"]] = current
    roles_needed = set()
    for sec in record["sections"]:
        sigs = sec.get("signatures")
        if not isinstance(sigs, list):
            problems.append(f"{_sec_name(sec)}: signatures must be a list")
            continue
        content = section_content(sec)
        pending_invalid: dict[str, Any] | None = None
        for sig in sigs:
            status = _verify_signature(sec, sig, content, headers, rev["number"], trust, problems)
            if status == "valid":
                pending_invalid = None
                result.valid.append(f"{_sec_name(sec)}: signed by {sig['name']} ({sig['role']}) on {sig['date']}, "
                                    f"key {sig['fingerprint']}, revision {sig['revision']}")
                roles_needed.add(sig["role"])
            elif status == "invalidated":
                pending_invalid = sig
        if pending_invalid is not None:
            problems.append(f"{_sec_name(sec)}: the signature by {pending_invalid['name']} was invalidated by "
                            f"revision {pending_invalid.get('invalidated_in')} (its results changed); sign it again")
        if not sigs:
            result.notes.append(f"{_sec_name(sec)}: not signed")
    if record.get("approvals") != expected_approvals(record, _approval_roles(record)):
        problems.append("approvals: the approval table does not match the sections' signatures")


def _verify_signature(sec: dict[str, Any], sig: Any, content: dict[str, Any], headers: dict[int, Any],
                      current: int, trust: dict[str, TrustedKey], problems: list[str]) -> str | None:
    where = _sec_name(sec)
    if not isinstance(sig, dict):
        problems.append(f"{where}: a signature entry is not an object")
        return None
    who = f"signature by {sig.get('name')!s}"
    expected_keys = _ENTRY_KEYS | ({"invalidated_in"} if sig.get("status") == "invalidated" else set())
    if set(sig) != expected_keys:
        problems.append(f"{where}: {who}: unexpected or missing fields")
        return None
    try:
        body, keyid, raw_sig = open_envelope(sig["envelope"])
    except ValueError as exc:
        problems.append(f"{where}: {who}: malformed envelope: {exc}")
        return None
    tk = trust.get(keyid)
    if tk is None:
        problems.append(f"{where}: {who}: signed by untrusted key {keyid}")
        return None
    try:
        tk.key.verify(raw_sig, pae(PAYLOAD_TYPE, body))
    except InvalidSignature:
        problems.append(f"{where}: {who}: the signature does not verify with key {keyid} "
                        "(the signed statement or the signature was changed)")
        return None
    stmt = json.loads(body)
    if stmt.get("_type") != STATEMENT_TYPE:
        problems.append(f"{where}: {who}: not a {STATEMENT_TYPE} statement")
        return None
    signer = stmt["signer"]
    role = signer["role"]
    if role not in tk.roles:
        problems.append(f"{where}: {who}: key {keyid} ({tk.file}) is trusted for {', '.join(tk.roles) or 'no role'}, "
                        f"not for {role}")
        return None
    if role != sec["sign_off_role"] or stmt["section"].get("number") != sec["number"]:
        problems.append(f"{where}: {who}: the statement signs {stmt['section'].get('number')} as {role}, "
                        f"but this section is signed off by {sec['sign_off_role']}")
        return None
    if (sig["role"], sig["name"], sig["date"], sig["fingerprint"], sig["revision"]) != \
            (role, signer["name"], stmt["signed_at"], keyid, stmt["revision"]["number"]) or signer["key"] != keyid:
        problems.append(f"{where}: {who}: the entry's role, name, date, key or revision differs from what was signed")
        return None
    signed_header = {k: stmt[k] for k in ("revision", "environment", "run")}
    if headers.get(stmt["revision"]["number"]) != signed_header:
        problems.append(f"{where}: {who}: the signed revision, environment or run is not the record's "
                        f"(revision {stmt['revision']['number']})")
        return None
    same = stmt["section"] == content
    if sig["status"] == "valid":
        if not same:
            problems.append(f"{where}: {who}: the section's results changed since it was signed")
            return None
        return "valid"
    if sig["status"] == "invalidated":
        inv = sig["invalidated_in"]
        if same or not isinstance(inv, int) or not (stmt["revision"]["number"] < inv <= current):
            problems.append(f"{where}: {who}: marked invalidated, but the record does not bear that out")
            return None
        return "invalidated"
    problems.append(f"{where}: {who}: unknown status {sig['status']!r}")
    return None


# -- rerun merge ---------------------------------------------------------------------------------------
def rerun_ids(record: dict[str, Any]) -> list[str]:
    """Items to run again: failed, error or awaiting, including those a waiver covers (they still fail)."""
    return [i["id"] for s in record["sections"] for i in _items(s)
            if i["outcome"] in RERUN_OUTCOMES
            or (i["outcome"] == oc.WAIVED and any(t.get("waived_from") in RERUN_OUTCOMES for t in i["tests"]))]


def _result(item: dict[str, Any]) -> dict[str, Any]:
    """An item's result for comparing runs: everything but durations and provenance."""
    out = {k: v for k, v in item.items() if k != "produced_by"}
    out["tests"] = [{k: v for k, v in t.items() if k != "duration_s"} for t in item.get("tests", [])]
    return out


def merge_rerun(new: dict[str, Any], prev: dict[str, Any], selected: set[str]) -> dict[str, list[int]]:
    """Merge a rerun's record ``new`` (in place) into ``prev``: rerun items take the new result, the rest
    keep theirs; signatures of sections whose content changed are invalidated. Returns which sections
    changed and which kept their signatures."""
    ensure_revision(prev)
    number = prev["revision"]["number"] + 1
    started = new["run"]["started"]
    prev_items = {i["id"]: i for s in prev["sections"] for i in _items(s)}
    prev_secs = {s["number"]: s for s in prev["sections"]}
    for sec in new["sections"]:
        for group in sec["groups"]:
            merged = []
            for item in group["items"]:
                before = prev_items.get(item["id"])
                rerun = item["id"] in selected and item["outcome"] != oc.NOT_RUN
                if before is not None and (not rerun or _result(before) == _result(item)):
                    merged.append(before)  # not rerun, or rerun with the same result: the earlier run stands
                else:
                    item["produced_by"] = {"revision": number, "run_started": started}
                    merged.append(item)
            group["items"] = merged
    refresh_derived(new)
    changed, kept = [], []
    for sec in new["sections"]:
        old = prev_secs.get(sec["number"])
        sigs = [dict(s) for s in (old.get("signatures", []) if old else [])]
        if old is not None and section_content(old) != section_content(sec):
            changed.append(sec["number"])
            for s in sigs:
                if s.get("status") == "valid":
                    s["status"], s["invalidated_in"] = "invalidated", number
        elif sigs:
            kept.append(sec["number"])
        sec["signatures"] = sigs
    new["revisions"] = [*prev.get("revisions", []), header(prev)]
    new["revision"] = {"number": number, "previous": prev["revision"]["id"], "id": None}
    refresh_approvals(new)
    new["revision"]["id"] = revision_digest(new)
    return {"changed": changed, "kept": kept}


def first_revision(record: dict[str, Any]) -> None:
    """Give a fresh run's record its revision block and item provenance."""
    for sec in record["sections"]:
        for item in _items(sec):
            item["produced_by"] = {"revision": 1, "run_started": record["run"]["started"]}
    record["revisions"] = []
    record["revision"] = {"number": 1, "previous": None, "id": None}
    record["revision"]["id"] = revision_digest(record)
