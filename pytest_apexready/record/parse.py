"""Reading a record back from JSON, strictly: what this version would not write back the same is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..outcomes import Finding, Outcome
from ..records import Attestation, Waiver
from .document import Environment, Group, Problem, Record, Revision, RevisionHeader, Run, Section
from .items import (
    SCHEMA,
    EvidenceEntry,
    ItemResult,
    PartResult,
    ProducedBy,
    RecordError,
    Signature,
    TestResult,
)

__all__ = ["evidence_entries", "outcome_of", "parse_record"]

def outcome_of(value: Any) -> Outcome:
    return Outcome.parse(value)


def evidence_entries(raw: Sequence[Mapping[str, Any]]) -> tuple[EvidenceEntry, ...]:
    return tuple(EvidenceEntry(e["name"], e["value"], e["source"]) for e in raw)


def _tests(raw: Sequence[Mapping[str, Any]]) -> tuple[TestResult, ...]:
    return tuple(TestResult(t["nodeid"], outcome_of(t["outcome"]), t["reason"],
                            outcome_of(t["waived_from"]) if t["waived_from"] else None, t["duration_s"]) for t in raw)


def _findings(raw: Sequence[Mapping[str, Any]]) -> tuple[Finding, ...]:
    return tuple(Finding(f["what"], f["observed"], f["expected"], f["where"]) for f in raw)


def _item(d: Mapping[str, Any]) -> ItemResult:
    pb = d.get("produced_by")
    return ItemResult(
        d["id"], d["title"], d["text"], d["kind"], d["severity"], tuple(d["components"]), outcome_of(d["outcome"]),
        d["reason"], evidence_entries(d["evidence"]), _tests(d["tests"]), _findings(d.get("findings", ())),
        tuple(PartResult(p["name"], p["component"], outcome_of(p["outcome"]), p["reason"], _findings(p["findings"]),
                         evidence_entries(p["evidence"]), _tests(p["tests"])) for p in d.get("parts", ())),
        Waiver(**d["waiver"]) if "waiver" in d else None,
        Attestation(**d["attestation"]) if "attestation" in d else None,
        dict(d["expired_record"]) if "expired_record" in d else None,
        ProducedBy(pb["revision"], pb["run_started"]) if pb is not None else None)


def _signature(d: Mapping[str, Any]) -> Signature:
    return Signature(d["role"], d["name"], d["date"], d["fingerprint"], d.get("status"), d["revision"],
                     d["envelope"], d.get("invalidated_in"))


def _environment(d: Mapping[str, Any]) -> Environment:
    return Environment(d["name"], tuple(d["profile"]), d["description"])


def _run(d: Mapping[str, Any]) -> Run:
    return Run(d["started"], d["finished"], d["duration_s"], d["tool_version"], d["git_commit"], d["host"],
               tuple(d["args"]))


def _revision(d: Mapping[str, Any]) -> Revision:
    return Revision(d["number"], d["id"], d["previous"])


def _parse(doc: Mapping[str, Any]) -> Record:
    sections = tuple(
        Section(s["number"], s["title"], s["marker"], s["sign_off_role"],
                tuple(Group(g["title"], tuple(_item(i) for i in g["items"])) for g in s["groups"]),
                tuple(_signature(x) for x in s["signatures"]))
        for s in doc["sections"])
    has_revision = "revision" in doc or "revisions" in doc
    return Record(
        _environment(doc["environment"]), _run(doc["run"]), sections,
        tuple(a["role"] for a in doc["approvals"]),
        tuple(Problem(p["file"], p["key"], p["message"]) for p in doc["problems"]),
        _revision(doc["revision"]) if has_revision else None,
        tuple(RevisionHeader(_revision(h["revision"]), _environment(h["environment"]), _run(h["run"]))
              for h in doc["revisions"]) if has_revision else (),
        doc["schema"])


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    """Where two JSON values first differ (type-strict: 1 is not 1.0 is not True), or None."""
    if type(a) is not type(b):
        return f"{path or 'the document'} differs"
    if isinstance(a, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key} is {'unknown' if key in a else 'missing'}"
            found = _first_difference(a[key], b[key], f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path} has {len(a)} entries, not {len(b)}"
        return next((d for n, (x, y) in enumerate(zip(a, b, strict=True))
                     if (d := _first_difference(x, y, f"{path}[{n}]"))), None)
    return None if a == b else f"{path} differs"


def parse_record(doc: Any, where: str, strict: bool) -> Record:
    """See :meth:`Record.parse`."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise RecordError(f"{where} is not an {SCHEMA} record")
    try:
        record = _parse(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"{where}: malformed ({type(exc).__name__}: {exc})") from None
    difference = _first_difference(doc, record.to_json(), "") if strict else None
    if difference:
        raise RecordError(f"{where}: {difference}: not what this version derives and writes (changed by hand, "
                          "or written by a newer pytest-apexready)")
    return record
