"""Signing a role's sections: the signed statement and the signature entry.

The statement (payload of the DSSE envelope) is the canonical JSON of ``{"_type", "schema",
"revision", "environment", "run", "section" (as in the record, without signatures), "signer":
{role, name, key}, "signed_at"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..record import Record, Section, Signature
from .common import SigningError, canonical, now_utc
from .dsse import make_envelope
from .keys import fingerprint
from .revisions import check_integrity, ensure_revision

__all__ = ["STATEMENT_TYPE", "SignResult", "section_roles", "sign_role", "statement"]

STATEMENT_TYPE = "apexready.section-signoff/v1"


def statement(record: Record, section: Section, role: str, name: str, key_id: str, date: str) -> dict[str, Any]:
    header = record.header.to_json()
    return {"_type": STATEMENT_TYPE, "schema": record.schema, **header, "section": section.content_json(),
            "signer": {"role": role, "name": name, "key": key_id}, "signed_at": date}


def section_roles(record: Record) -> list[str]:
    return list(dict.fromkeys(s.sign_off_role for s in record.sections))


@dataclass(frozen=True, slots=True)
class SignResult:
    #: the record with the new signatures
    record: Record
    #: the sections signed (as in ``record``)
    signed: tuple[Section, ...]
    #: the sections refused, each with its blocking items as "id (outcome)"
    refused: tuple[tuple[Section, list[str]], ...]


def sign_role(record: Record, role: str, name: str, key: Ed25519PrivateKey, date: str | None = None) -> SignResult:
    """Sign every ready section owned by ``role``; refuse those that are not ready."""
    roles = section_roles(record)
    if role not in roles:
        raise SigningError(f"no section is signed off by {role!r}; roles are: {', '.join(roles)}")
    if not name.strip():
        raise SigningError("the signer's name is empty")
    record = ensure_revision(record)
    check_integrity(record)
    assert record.revision is not None
    number = record.revision.number
    date = date or now_utc()
    fp = fingerprint(key.public_key())
    signed, refused = [], []
    for sec in record.sections:
        if sec.sign_off_role != role:
            continue
        if not sec.ready:
            refused.append((sec, sec.blocking_detail))
            continue
        envelope = make_envelope(key, fp, canonical(statement(record, sec, role, name, fp, date)))
        sec = replace(sec, signatures=(*sec.signatures, Signature(role, name, date, fp, "valid",
                                                                    number, envelope)))
        record = record.with_section(sec)
        signed.append(sec)
    return SignResult(record, tuple(signed), tuple(refused))
