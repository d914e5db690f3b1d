"""Reading and writing signed records: the report directory, earlier revisions, the one-file archive.

``checklist.signed.json`` = ``{"schema": "apexready.signed-checklist/v1", "record": <checklist.json>,
"previous_revisions": [<revisions/rN.json>, ...], "public_keys": {fingerprint: PEM}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..record import Record, RecordError, record_text
from ..report import write_reports
from .common import SigningError
from .revisions import revision_digest
from .trust import TrustedKey
from .verify import ARCHIVE_SCHEMA, RECORD_NAME

__all__ = [
    "ARCHIVE_NAME",
    "ARCHIVE_SCHEMA",
    "RECORD_NAME",
    "REVISIONS_DIR",
    "export_archive",
    "load_document",
    "load_record",
    "previous_revisions",
    "write_signed",
]

ARCHIVE_NAME = "checklist.signed.json"
REVISIONS_DIR = "revisions"


def load_record(path: Path) -> tuple[Record, Path, str]:
    """(record, report directory, exact text) from a report directory or a ``checklist.json``.

    A record whose content no longer matches its revision id is refused first, with that reason:
    it was changed after it was written.
    """
    file = path / RECORD_NAME if path.is_dir() else path
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeError) as exc:
        raise SigningError(f"cannot read {file}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SigningError(f"{file} is not valid JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("revision"), dict):
        try:
            intact = revision_digest(doc) == doc["revision"].get("id")
        except (KeyError, TypeError, AttributeError):
            intact = False
        if not intact:
            raise SigningError(f"{file}: the record's content does not match its revision id: it was changed "
                               "after it was written; refusing to sign or merge it")
    try:
        return Record.parse(doc, str(file)), file.parent, text
    except RecordError as exc:
        raise SigningError(str(exc)) from None


def load_document(path: Path) -> Record:
    """The record in a report directory, a ``checklist.json`` or an archive (for showing it)."""
    file = path / RECORD_NAME if path.is_dir() else path
    try:
        doc = json.loads(file.read_text("utf-8"))
        if isinstance(doc, dict) and doc.get("schema") == ARCHIVE_SCHEMA:
            doc = doc.get("record")
        return Record.parse(doc, str(file))
    except (OSError, UnicodeError, json.JSONDecodeError, RecordError) as exc:
        raise SigningError(f"cannot read {file}: {exc}") from None


def previous_revisions(outdir: Path) -> list[dict[str, Any]]:
    """The superseded revisions kept in OUTDIR/revisions/, as written (JSON), oldest first."""
    folder = outdir / REVISIONS_DIR
    if not folder.is_dir():
        return []
    revs = [json.loads(p.read_text("utf-8")) for p in folder.glob("r*.json")]
    return sorted(revs, key=lambda r: int(r["revision"]["number"]))


def _existing_keys(outdir: Path) -> dict[str, str]:
    try:
        return dict(json.loads((outdir / ARCHIVE_NAME).read_text("utf-8")).get("public_keys", {}))
    except (ValueError, OSError, AttributeError):
        return {}


def _write_archive(record: Record, outdir: Path, keys: Mapping[str, str], dest: Path) -> Path:
    used = {sig.fingerprint for sec in record.sections for sig in sec.signatures}
    archive = {"schema": ARCHIVE_SCHEMA, "record": record.to_json(), "previous_revisions": previous_revisions(outdir),
               "public_keys": {k: keys[k] for k in sorted(keys) if k in used}}
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(record_text(archive), "utf-8")
    tmp.replace(dest)
    return dest


def export_archive(record: Record, outdir: Path, dest: Path | None = None,
                   trust: Mapping[str, TrustedKey] | None = None) -> Path:
    """One file for the audit trail: the record, its earlier revisions, the signers' public keys."""
    keys = _existing_keys(outdir)
    keys.update({fp: tk.pem.decode("ascii") for fp, tk in (trust or {}).items()})
    return _write_archive(record, outdir, keys, dest or outdir / ARCHIVE_NAME)


def write_signed(record: Record, outdir: Path, extra_keys: Mapping[str, str] | None = None) -> list[Path]:
    """Re-render checklist.json/.md/.html and write the archive after signing."""
    paths = write_reports(record, outdir)
    keys = _existing_keys(outdir)
    keys.update(extra_keys or {})
    return [*paths, _write_archive(record, outdir, keys, outdir / ARCHIVE_NAME)]
