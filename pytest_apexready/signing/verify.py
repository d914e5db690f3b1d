"""Verification of a signed record or archive against trusted keys.

It works on the JSON as read from the file, not on the typed record: what was signed are bytes,
and a record from a newer version (new optional fields) still verifies here. The typed record is
used for the one rule it owns, the approval table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from ..record import SCHEMA, Record, RecordError, Signature, record_text
from .common import SigningError
from .dsse import PAYLOAD_TYPE, open_envelope, pae
from .keys import fingerprint, load_public_key
from .revisions import revision_digest
from .sign import STATEMENT_TYPE
from .trust import TrustedKey

__all__ = ["ARCHIVE_SCHEMA", "RECORD_NAME", "Verification", "verify_path", "verify_record"]

ARCHIVE_SCHEMA = "apexready.signed-checklist/v1"
RECORD_NAME = "checklist.json"
_ENTRY_KEYS = {"role", "name", "date", "fingerprint", "status", "revision", "envelope"}


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    valid: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing wrong, and at least one signature holds."""
        return not self.problems and bool(self.valid)


def _sec_name(sec: dict[str, Any]) -> str:
    return f"section {sec.get('number')} ({sec.get('title')})"


def header(doc: dict[str, Any]) -> dict[str, Any]:
    """What a signature binds besides its section: revision, environment, run (as JSON)."""
    rev = doc["revision"]
    return {"revision": {"number": rev["number"], "id": rev["id"], "previous": rev["previous"]},
            "environment": doc["environment"], "run": doc["run"]}


def verify_path(path: Path, trust: dict[str, TrustedKey]) -> Verification:
    """Verify a report directory, a ``checklist.json`` or a ``checklist.signed.json``."""
    result = Verification()
    file = path / RECORD_NAME if path.is_dir() else path
    try:
        text = file.read_bytes().decode("utf-8")
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


def verify_record(record: Record | dict[str, Any], trust: dict[str, TrustedKey],
                  result: Verification | None = None) -> Verification:
    """Verify every signature of a record (JSON as read, or a :class:`Record`)."""
    result = result or Verification()
    doc = record.to_json() if isinstance(record, Record) else record
    try:
        _verify_record(doc, trust, result)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        result.problems.append(f"record: malformed ({type(exc).__name__}: {exc})")
    return result


def _verify_history(doc: dict[str, Any], problems: list[str]) -> dict[int, Any]:
    """The headers of every revision (earlier ones and the current one), by number."""
    rev = doc["revision"]
    if set(rev) != {"number", "id", "previous"}:
        problems.append("record: the revision block must hold exactly number, id, previous")
    if revision_digest(doc) != rev["id"]:
        problems.append(f"record: its content does not match revision id {rev['id']} (changed after it was written)")
    headers = {}
    prev_id = None
    for n, h in enumerate(doc.get("revisions", []), 1):
        if set(h) != {"revision", "environment", "run"} or h["revision"]["number"] != n \
                or h["revision"]["previous"] != prev_id:
            problems.append(f"record: revision history entry {n} is inconsistent")
        headers[h["revision"]["number"]] = h
        prev_id = h["revision"]["id"]
    if rev["number"] != len(headers) + 1 or rev["previous"] != prev_id:
        problems.append("record: the revision number or previous id does not follow its history")
    headers[rev["number"]] = header(doc)
    return headers


def _verify_record(doc: dict[str, Any], trust: dict[str, TrustedKey], result: Verification) -> None:
    problems = result.problems
    if doc.get("schema") != SCHEMA:
        problems.append(f"record: not an {SCHEMA} record")
        return
    if "revision" not in doc:
        problems.append("record: it has no revision block, so nothing in it was signed")
        return
    headers = _verify_history(doc, problems)
    current = doc["revision"]["number"]
    for sec in doc["sections"]:
        sigs = sec.get("signatures")
        if not isinstance(sigs, list):
            problems.append(f"{_sec_name(sec)}: signatures must be a list")
            continue
        content = {k: v for k, v in sec.items() if k != "signatures"}
        pending_invalid: Signature | None = None
        for raw in sigs:
            sig = _verify_signature(sec, raw, content, headers, current, trust, problems)
            if sig is not None and sig.is_valid:
                pending_invalid = None
                result.valid.append(f"{_sec_name(sec)}: signed by {sig.name} ({sig.role}) on {sig.date}, "
                                    f"key {sig.fingerprint}, revision {sig.revision}")
            elif sig is not None:
                pending_invalid = sig
        if pending_invalid is not None:
            problems.append(f"{_sec_name(sec)}: the signature by {pending_invalid.name} was invalidated by "
                            f"revision {pending_invalid.invalidated_in} (its results changed); sign it again")
        if not sigs:
            result.notes.append(f"{_sec_name(sec)}: not signed")
    try:
        # the table's rows are derived from the signatures, for the roles the record's own table lists
        derived = [a.to_json() for a in Record.parse(doc, strict=False).approvals]
    except RecordError as exc:
        problems.append(f"record: {exc}")
        return
    if doc.get("approvals") != derived:
        problems.append("approvals: the approval table does not match the sections' signatures")


def _verify_signature(sec: dict[str, Any], raw: Any, content: dict[str, Any], headers: dict[int, Any],
                      current: int, trust: dict[str, TrustedKey], problems: list[str]) -> Signature | None:
    """The signature entry when it holds (valid, or invalidated as the record bears out), else None."""
    where = _sec_name(sec)
    if not isinstance(raw, dict):
        problems.append(f"{where}: a signature entry is not an object")
        return None
    who = f"signature by {raw.get('name')!s}"
    expected_keys = _ENTRY_KEYS | ({"invalidated_in"} if raw.get("status") == "invalidated" else set())
    if set(raw) != expected_keys:
        problems.append(f"{where}: {who}: unexpected or missing fields")
        return None
    sig = Signature(raw["role"], raw["name"], raw["date"], raw["fingerprint"], raw["status"], raw["revision"],
                    raw["envelope"], raw.get("invalidated_in"))
    try:
        body, keyid, raw_sig = open_envelope(sig.envelope)
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
    if (sig.role, sig.name, sig.date, sig.fingerprint, sig.revision) != \
            (role, signer["name"], stmt["signed_at"], keyid, stmt["revision"]["number"]) or signer["key"] != keyid:
        problems.append(f"{where}: {who}: the entry's role, name, date, key or revision differs from what was signed")
        return None
    signed_header = {k: stmt[k] for k in ("revision", "environment", "run")}
    if headers.get(stmt["revision"]["number"]) != signed_header:
        problems.append(f"{where}: {who}: the signed revision, environment or run is not the record's "
                        f"(revision {stmt['revision']['number']})")
        return None
    same = stmt["section"] == content
    if sig.is_valid:
        if not same:
            problems.append(f"{where}: {who}: the section's results changed since it was signed")
            return None
        return sig
    if sig.status == "invalidated":
        inv = sig.invalidated_in
        if same or not isinstance(inv, int) or not (stmt["revision"]["number"] < inv <= current):
            problems.append(f"{where}: {who}: marked invalidated, but the record does not bear that out")
            return None
        return sig
    problems.append(f"{where}: {who}: unknown status {sig.status!r}")
    return None
