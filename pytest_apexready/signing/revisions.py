"""Revisions of a record and the ``--apex-rerun`` merge.

A record's ``revision`` is ``{number, id, previous}``: ``id`` is ``sha256:`` + hex SHA-256 of the
canonical JSON of the record without ``approvals``, without each section's ``signatures`` and
without ``revision.id`` (so signing does not change it); ``previous`` is the id of the revision
a rerun was merged into. ``revisions`` lists the headers of the earlier ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..outcomes import AWAITING, ERROR, FAILED, NOT_RUN, WAIVED, Outcome
from ..record import ItemResult, ProducedBy, Record, Revision, TestResult
from .common import SigningError, canonical, sha256_tag

__all__ = [
    "RERUN_OUTCOMES",
    "Merge",
    "check_integrity",
    "ensure_revision",
    "first_revision",
    "merge_rerun",
    "record_digest",
    "rerun_ids",
    "revision_digest",
]

#: outcomes a rerun runs again
RERUN_OUTCOMES: frozenset[Outcome] = frozenset({FAILED, ERROR, AWAITING})


def revision_digest(doc: Mapping[str, Any]) -> str:
    """The revision id of a record as JSON (as read from a file: the bytes that were written count)."""
    body = {k: v for k, v in doc.items() if k != "approvals"}
    body["sections"] = [{k: v for k, v in s.items() if k != "signatures"} for s in doc["sections"]]
    body["revision"] = {k: v for k, v in doc["revision"].items() if k != "id"}
    return sha256_tag(canonical(body))


def record_digest(record: Record) -> str:
    return revision_digest(record.to_json())


def _with_id(record: Record) -> Record:
    assert record.revision is not None
    return replace(record, revision=replace(record.revision, id=record_digest(record)))


def first_revision(record: Record) -> Record:
    """A fresh run's record as revision 1, each item produced by this run."""
    produced = ProducedBy(1, record.run.started)
    record = record.map_items(lambda i: replace(i, produced_by=produced))
    return _with_id(replace(record, revisions=(), revision=Revision(1, None, None)))


def ensure_revision(record: Record) -> Record:
    """A record that has no revision (written before revisions existed) becomes revision 1."""
    return record if record.revision is not None else first_revision(record)


def check_integrity(record: Record) -> None:
    if record.revision is None or record_digest(record) != record.revision.id:
        raise SigningError("the record's content does not match its revision id: it was changed after it was "
                           "written; refusing to sign or merge it")


def rerun_ids(record: Record) -> list[str]:
    """Items to run again: failed, error or awaiting, including those a waiver covers (they still fail)."""
    return [i.id for i in record.items
            if i.outcome in RERUN_OUTCOMES
            or (i.outcome == WAIVED and any(t.waived_from in RERUN_OUTCOMES for t in i.tests))]


def _timeless(tests: tuple[TestResult, ...]) -> tuple[TestResult, ...]:
    return tuple(replace(t, duration_s=0.0) for t in tests)


def _result(item: ItemResult) -> ItemResult:
    """An item's result for comparing runs: everything but durations and provenance."""
    return replace(item, produced_by=None, tests=_timeless(item.tests),
                   parts=tuple(replace(p, tests=_timeless(p.tests)) for p in item.parts))


@dataclass(frozen=True, slots=True)
class Merge:
    record: Record
    #: sections whose content changed (their valid signatures are now invalidated)
    changed: tuple[int, ...]
    #: sections that kept their signatures
    kept: tuple[int, ...]


def merge_rerun(new: Record, prev: Record, selected: set[str]) -> Merge:
    """Merge a rerun's record ``new`` into ``prev``: rerun items take the new result, the rest keep theirs
    (and so does a rerun item whose result is the same); signatures of sections whose content changed
    are marked invalidated, the others are kept and stay valid."""
    prev = ensure_revision(prev)
    assert prev.revision is not None
    number = prev.revision.number + 1
    produced = ProducedBy(number, new.run.started)
    before = {i.id: i for i in prev.items}

    def merged(item: ItemResult) -> ItemResult:
        old = before.get(item.id)
        rerun = item.id in selected and item.outcome != NOT_RUN
        if old is not None and (not rerun or _result(old) == _result(item)):
            return old  # not rerun, or rerun with the same result: the earlier run stands
        return replace(item, produced_by=produced)

    record = new.map_items(merged)
    old_sections = {s.number: s for s in prev.sections}
    changed, kept, sections = [], [], []
    for sec in record.sections:
        old_sec = old_sections.get(sec.number)
        sigs = old_sec.signatures if old_sec is not None else ()
        if old_sec is not None and old_sec.content_json() != sec.content_json():
            changed.append(sec.number)
            sigs = tuple(replace(s, status="invalidated", invalidated_in=number) if s.is_valid else s for s in sigs)
        elif sigs:
            kept.append(sec.number)
        sections.append(replace(sec, signatures=sigs))
    # the approval table's roles are the earlier record's: the merged record continues it
    record = replace(record, sections=tuple(sections), approval_roles=prev.approval_roles,
                     revisions=(*prev.revisions, prev.header), revision=Revision(number, None, prev.revision.id))
    return Merge(_with_id(record), tuple(changed), tuple(kept))
