"""The checklist record (``checklist.json``, schema ``apexready.checklist/v1``) as frozen dataclasses.

This package is the one place that builds the record from a run's results (:mod:`.build`), derives
what follows from the items (counts, readiness, blocking items, the summary, the approval table:
properties in :mod:`.document`), writes it as JSON (``to_json``/``text``) and reads it back
(:mod:`.parse`). Everything else (Markdown, HTML, the terminal, signing, the ``apexready`` command)
reads a :class:`Record`. The layout is documented in ``docs/checklist-json.md``.

Derived fields are properties, never stored, so a record cannot disagree with itself;
:meth:`Record.parse` refuses a document whose derived fields (or unknown keys) do not match what
this package would write, because the record is rewritten when it is signed or merged and must not
lose or silently fix anything. The JSON key order is the v1 order the code before this package
wrote: signatures cover the bytes, so ``Record.parse(doc).text()`` equals the file it came from.
"""

from .build import build_record
from .document import Approval, Environment, Group, Problem, Record, Revision, RevisionHeader, Run, Section, Summary
from .items import (
    SCHEMA,
    V1_OUTCOMES,
    EvidenceEntry,
    ItemResult,
    PartResult,
    ProducedBy,
    RecordError,
    Signature,
    TestResult,
    reason_beyond_findings,
    record_text,
)

__all__ = [
    "SCHEMA", "V1_OUTCOMES", "Approval", "Environment", "EvidenceEntry", "Group", "ItemResult", "PartResult",
    "Problem", "ProducedBy", "Record", "RecordError", "Revision", "RevisionHeader", "Run", "Section", "Signature",
    "Summary", "TestResult", "build_record", "reason_beyond_findings", "record_text",
]
