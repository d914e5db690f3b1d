"""Per-role ed25519 sign-off of checklist sections. The format is documented in ``docs/signing.md``.

* :mod:`.dsse`: the DSSE v1 envelope and PAE;  :mod:`.keys`: key pairs and fingerprints;
* :mod:`.trust`: ``trust.toml``;  :mod:`.revisions`: revision ids and the ``--apex-rerun`` merge;
* :mod:`.sign`: the signed statement and signing a role's sections;  :mod:`.verify`: verification;
* :mod:`.archive`: reading records, ``revisions/`` and the one-file archive.
"""

from __future__ import annotations

from ..record import record_text
from .archive import (
    ARCHIVE_NAME,
    ARCHIVE_SCHEMA,
    RECORD_NAME,
    REVISIONS_DIR,
    export_archive,
    load_document,
    load_record,
    previous_revisions,
    write_signed,
)
from .common import SigningError, canonical, now_utc
from .dsse import PAYLOAD_TYPE, make_envelope, open_envelope, pae
from .keys import (
    fingerprint,
    generate_keypair,
    load_private_key,
    load_public_key,
    public_keys_for_archive,
    write_keypair,
)
from .revisions import (
    RERUN_OUTCOMES,
    Merge,
    check_integrity,
    ensure_revision,
    first_revision,
    merge_rerun,
    record_digest,
    rerun_ids,
    revision_digest,
)
from .sign import STATEMENT_TYPE, SignResult, section_roles, sign_role, statement
from .trust import TrustedKey, add_trust, load_trust
from .verify import Verification, verify_path, verify_record

__all__ = [
    "ARCHIVE_NAME", "ARCHIVE_SCHEMA", "PAYLOAD_TYPE", "RECORD_NAME", "RERUN_OUTCOMES", "REVISIONS_DIR",
    "STATEMENT_TYPE", "Merge", "SignResult", "SigningError", "TrustedKey", "Verification", "add_trust", "canonical",
    "check_integrity", "ensure_revision", "export_archive", "fingerprint", "first_revision", "generate_keypair",
    "load_document", "load_private_key", "load_public_key", "load_record", "load_trust", "make_envelope", "merge_rerun",
    "now_utc", "open_envelope", "pae", "previous_revisions", "public_keys_for_archive", "record_digest", "record_text",
    "rerun_ids", "revision_digest", "section_roles", "sign_role", "statement", "verify_path", "verify_record",
    "write_keypair", "write_signed",
]
