"""The checklist record (``checklist.json``, schema ``apexready.checklist/v1``) as frozen dataclasses.

This is the one module that builds the record from a run's results, derives what follows from the
items (counts, readiness, blocking items, the summary, the approval table), writes it as JSON and
reads it back. Everything else (Markdown, HTML, the terminal, signing, the ``apexready`` command)
reads a :class:`Record`. The layout is documented in ``docs/checklist-json.md``.

Derived fields are properties, never stored, so a record cannot disagree with itself;
:meth:`Record.parse` refuses a document whose derived fields (or unknown keys) do not match what
this module would write, because the record is rewritten when it is signed or merged and must not
lose or silently fix anything. The JSON key order is the v1 order the code before this module
wrote: signatures cover the bytes, so ``Record.parse(doc).text()`` equals the file it came from.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._phases import instance_outcome
from ._version import __version__
from .catalog import COMPONENTS, Catalog
from .catalog import Item as CatalogItem
from .outcomes import NOT_RUN, OUTCOMES, WAIVED, Finding, Outcome, combine
from .records import Attestation, Waiver

__all__ = [
    "SCHEMA",
    "V1_OUTCOMES",
    "Approval",
    "Environment",
    "EvidenceEntry",
    "Group",
    "ItemResult",
    "PartResult",
    "Problem",
    "ProducedBy",
    "Record",
    "RecordError",
    "Revision",
    "RevisionHeader",
    "Run",
    "Section",
    "Signature",
    "Summary",
    "TestResult",
    "build_record",
    "reason_beyond_findings",
    "record_text",
]

SCHEMA = "apexready.checklist/v1"
#: sections 1-10 gate the deploy; 11 (the post-deployment schedule) happens after it
LAST_GATING_SECTION = 10

Json = Any

#: the outcomes schema v1 began with: their counts are always written, zeros included; an outcome added
#: since (not_yet_due) is counted only where it occurs, so the records written before it keep their bytes
V1_OUTCOMES: tuple[str, ...] = ("passed", "failed", "error", "not_applicable", "waived", "attested",
                                "awaiting_attestation", "not_automated", "not_run")


def _counts_json(counts: Mapping[Outcome, int]) -> dict[str, int]:
    return {o.value: n for o, n in counts.items() if n or o.value in V1_OUTCOMES}


class RecordError(ValueError):
    """A document that is not a record this version reads and writes faithfully."""


def record_text(doc: Mapping[str, Any]) -> str:
    """The exact bytes of a record file (also of the signed archive): the form signatures rely on."""
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


# -- leaves ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EvidenceEntry:
    """An observation (``evidence.record``) or a prose note (``evidence.note``: name "note")."""

    name: str
    value: Json
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "source": self.source}


@dataclass(frozen=True, slots=True)
class TestResult:
    """One test (one parametrized instance) of an item."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    reason: str
    waived_from: Outcome | None
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "outcome": self.outcome.value, "reason": self.reason,
                "waived_from": self.waived_from.value if self.waived_from else None, "duration_s": self.duration_s}


@dataclass(frozen=True, slots=True)
class ProducedBy:
    revision: int
    run_started: str


def _finding_json(f: Finding) -> dict[str, str]:
    return f.as_dict()


def reason_beyond_findings(reason: str, findings: Sequence[Finding]) -> list[str]:
    """The lines of a reason that its findings do not already say (reports show the findings themselves)."""
    said = [f.line() for f in findings]
    return [line for line in reason.splitlines()
            if line.strip() and not any(s == line or s.startswith(line) for s in said)]


@dataclass(frozen=True, slots=True)
class PartResult:
    """One named part of an item (``@check("1.1.2", part="aws")``)."""

    name: str
    component: str | None
    outcome: Outcome
    reason: str
    findings: tuple[Finding, ...]
    evidence: tuple[EvidenceEntry, ...]
    tests: tuple[TestResult, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "component": self.component, "outcome": self.outcome.value,
                "reason": self.reason, "findings": [_finding_json(f) for f in self.findings],
                "evidence": [e.to_json() for e in self.evidence], "tests": [t.to_json() for t in self.tests]}


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One checklist item and what the run found. Its outcome is the worst of its tests and parts."""

    id: str
    title: str
    text: str
    kind: str
    severity: str
    components: tuple[str, ...]
    outcome: Outcome
    reason: str
    evidence: tuple[EvidenceEntry, ...]
    tests: tuple[TestResult, ...]
    findings: tuple[Finding, ...] = ()
    parts: tuple[PartResult, ...] = ()
    waiver: Waiver | None = None
    attestation: Attestation | None = None
    expired_record: Mapping[str, str] | None = None
    produced_by: ProducedBy | None = None

    @property
    def checked(self) -> bool:
        return self.outcome.ticks

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "title": self.title, "text": self.text, "kind": self.kind, "severity": self.severity,
            "components": list(self.components), "outcome": self.outcome.value, "checked": self.checked,
            "reason": self.reason}
        if self.findings:  # new optional fields: absent when empty, so older records keep their bytes
            out["findings"] = [_finding_json(f) for f in self.findings]
        out["evidence"] = [e.to_json() for e in self.evidence]
        out["tests"] = [t.to_json() for t in self.tests]
        if self.parts:
            out["parts"] = [p.to_json() for p in self.parts]
        if self.waiver is not None:
            out["waiver"] = self.waiver.as_dict()
        if self.attestation is not None:
            out["attestation"] = self.attestation.as_dict()
        if self.expired_record is not None:
            out["expired_record"] = dict(self.expired_record)
        if self.produced_by is not None:
            out["produced_by"] = {"revision": self.produced_by.revision, "run_started": self.produced_by.run_started}
        return out


@dataclass(frozen=True, slots=True)
class Signature:
    """One sign-off of a section. The DSSE envelope is kept as the JSON it was written as."""

    role: str
    name: str
    date: str
    fingerprint: str
    status: str | None
    revision: int
    envelope: Mapping[str, Any]
    invalidated_in: int | None = None

    @property
    def is_valid(self) -> bool:
        """The one rule: a signature counts only when its status says "valid".

        Every signature this tool ever wrote carries a status, and the verifier has always refused an
        entry without one, so an entry without a status (hand-made or damaged) does not count anywhere.
        """
        return self.status == "valid"

    @property
    def state(self) -> str:
        """How reports describe a signature that does not count."""
        if self.is_valid:
            return "valid"
        if self.status == "invalidated":
            return f"invalidated in revision {self.invalidated_in}"
        return "without a valid status (not counted)" if self.status is None else f"{self.status} (not counted)"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "name": self.name, "date": self.date,
                               "fingerprint": self.fingerprint}
        if self.status is not None:
            out["status"] = self.status
        out["revision"] = self.revision
        out["envelope"] = self.envelope
        if self.invalidated_in is not None:
            out["invalidated_in"] = self.invalidated_in
        return out


# -- sections ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Group:
    title: str
    items: tuple[ItemResult, ...]


@dataclass(frozen=True, slots=True)
class Section:
    number: int
    title: str
    marker: str
    sign_off_role: str
    groups: tuple[Group, ...]
    signatures: tuple[Signature, ...] = ()

    @property
    def items(self) -> Iterator[ItemResult]:
        for group in self.groups:
            yield from group.items

    @property
    def counts(self) -> dict[Outcome, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for item in self.items:
            counts[item.outcome] += 1
        return counts

    @property
    def blocking(self) -> list[str]:
        """The ids of the items that keep the section from being ready to sign."""
        return [i.id for i in self.items if not i.outcome.ticks]

    @property
    def blocking_detail(self) -> list[str]:
        return [f"{i.id} ({i.outcome.value})" for i in self.items if not i.outcome.ticks]

    @property
    def ready(self) -> bool:
        return all(i.outcome.ticks for i in self.items)

    @property
    def latest_valid(self) -> Signature | None:
        valid = [s for s in self.signatures if s.is_valid]
        return valid[-1] if valid else None

    @property
    def name(self) -> str:
        return f"section {self.number} ({self.title})"

    def content_json(self) -> dict[str, Any]:
        """The section as the record holds it, without its signatures: what a signature signs."""
        return {"number": self.number, "title": self.title, "marker": self.marker,
                "sign_off_role": self.sign_off_role, "ready": self.ready, "blocking": self.blocking,
                "counts": _counts_json(self.counts),
                "groups": [{"title": g.title, "items": [i.to_json() for i in g.items]} for g in self.groups]}

    def to_json(self) -> dict[str, Any]:
        return {**self.content_json(), "signatures": [s.to_json() for s in self.signatures]}


# -- the record --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    profile: tuple[str, ...]
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "profile": list(self.profile), "description": self.description}


@dataclass(frozen=True, slots=True)
class Run:
    started: str
    finished: str
    duration_s: float
    tool_version: str
    git_commit: str | None
    host: str
    args: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"started": self.started, "finished": self.finished, "duration_s": self.duration_s,
                "tool_version": self.tool_version, "git_commit": self.git_commit, "host": self.host,
                "args": list(self.args)}


@dataclass(frozen=True, slots=True)
class Revision:
    number: int
    id: str | None
    previous: str | None

    def block_json(self) -> dict[str, Any]:
        # the record's own block was written number, previous, id; history headers number, id, previous
        return {"number": self.number, "previous": self.previous, "id": self.id}

    def header_json(self) -> dict[str, Any]:
        return {"number": self.number, "id": self.id, "previous": self.previous}


@dataclass(frozen=True, slots=True)
class RevisionHeader:
    """What a signature binds besides its section: the revision, the environment and the run."""

    revision: Revision
    environment: Environment
    run: Run

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision.header_json(), "environment": self.environment.to_json(),
                "run": self.run.to_json()}


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    key: str
    message: str


@dataclass(frozen=True, slots=True)
class Approval:
    """A row of the approval table, derived from the sections of its role and their signatures."""

    role: str
    sections: tuple[int, ...]
    ready: bool
    name: str | None
    date: str | None
    signature: str | None

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "sections": list(self.sections), "ready": self.ready, "name": self.name,
                "date": self.date, "signature": self.signature}


@dataclass(frozen=True, slots=True)
class Summary:
    items: int
    outcomes: dict[Outcome, int]
    sections_ready: tuple[int, ...]
    ready: bool

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "outcomes": _counts_json(self.outcomes),
                "sections_ready": list(self.sections_ready), "ready": self.ready}


@dataclass(frozen=True, slots=True)
class Record:
    environment: Environment
    run: Run
    sections: tuple[Section, ...]
    #: the roles of the approval table, in its order: part of the record (the catalog may change later)
    approval_roles: tuple[str, ...]
    problems: tuple[Problem, ...] = ()
    #: None until the sign-off plugin gives the record its first revision
    revision: Revision | None = None
    revisions: tuple[RevisionHeader, ...] = ()
    schema: str = field(default=SCHEMA)

    # derived ---------------------------------------------------------------------------------
    @property
    def items(self) -> Iterator[ItemResult]:
        for sec in self.sections:
            yield from sec.items

    def item(self, item_id: str) -> ItemResult:
        return next(i for i in self.items if i.id == item_id)

    def section(self, number: int) -> Section:
        return next(s for s in self.sections if s.number == number)

    @property
    def summary(self) -> Summary:
        totals = dict.fromkeys(OUTCOMES, 0)
        for item in self.items:
            totals[item.outcome] += 1
        return Summary(sum(totals.values()), totals, tuple(s.number for s in self.sections if s.ready),
                       all(s.ready for s in self.sections if s.number <= LAST_GATING_SECTION))

    @property
    def approvals(self) -> tuple[Approval, ...]:
        rows = []
        for role in self.approval_roles:
            secs = [s for s in self.sections if s.sign_off_role == role]
            signed = [(s.number, s.latest_valid) for s in secs]
            sigs = [sig for _, sig in signed if sig is not None]
            name = date = signature = None
            if sigs:
                unsigned = [str(n) for n, sig in signed if sig is None]
                name = ", ".join(dict.fromkeys(s.name for s in sigs))
                date = max(s.date for s in sigs)
                signature = ", ".join(dict.fromkeys(s.fingerprint for s in sigs)) + (
                    f" (section {', '.join(unsigned)} unsigned)" if unsigned else "")
            rows.append(Approval(role, tuple(s.number for s in secs), all(s.ready for s in secs), name, date,
                                 signature))
        return tuple(rows)

    @property
    def header(self) -> RevisionHeader:
        if self.revision is None:
            raise RecordError("the record has no revision yet")
        return RevisionHeader(self.revision, self.environment, self.run)

    # changing (records are immutable: these return new ones) ----------------------------------
    def with_section(self, section: Section) -> Record:
        return replace(self, sections=tuple(section if s.number == section.number else s for s in self.sections))

    def map_items(self, fn: Any) -> Record:
        """A copy with ``fn(item) -> item`` applied to every item."""
        return replace(self, sections=tuple(
            replace(s, groups=tuple(replace(g, items=tuple(fn(i) for i in g.items)) for g in s.groups))
            for s in self.sections))

    # JSON ------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": self.schema, "environment": self.environment.to_json(), "run": self.run.to_json(),
            "summary": self.summary.to_json(), "sections": [s.to_json() for s in self.sections],
            "approvals": [a.to_json() for a in self.approvals],
            "problems": [{"file": p.file, "key": p.key, "message": p.message} for p in self.problems]}
        if self.revision is not None:
            out["revisions"] = [h.to_json() for h in self.revisions]
            out["revision"] = self.revision.block_json()
        return out

    def text(self) -> str:
        """``checklist.json``: ``json.dumps(record, indent=2) + "\\n"``."""
        return record_text(self.to_json())

    @classmethod
    def loads(cls, text: str, where: str = "the record") -> Record:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{where} is not valid JSON: {exc}") from None
        return cls.parse(doc, where)

    @classmethod
    def parse(cls, doc: Any, where: str = "the record", *, strict: bool = True) -> Record:
        """The record in ``doc`` (parsed JSON); :class:`RecordError` when it is not one this version writes.

        ``strict=False`` reads what it knows and ignores the rest (the verifier, which checks the JSON
        itself, uses it for the approval table).
        """
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


# -- parsing -----------------------------------------------------------------------------------
def _outcome(value: Any) -> Outcome:
    return Outcome.parse(value)


def _evidence(raw: Sequence[Mapping[str, Any]]) -> tuple[EvidenceEntry, ...]:
    return tuple(EvidenceEntry(e["name"], e["value"], e["source"]) for e in raw)


def _tests(raw: Sequence[Mapping[str, Any]]) -> tuple[TestResult, ...]:
    return tuple(TestResult(t["nodeid"], _outcome(t["outcome"]), t["reason"],
                            _outcome(t["waived_from"]) if t["waived_from"] else None, t["duration_s"]) for t in raw)


def _findings(raw: Sequence[Mapping[str, Any]]) -> tuple[Finding, ...]:
    return tuple(Finding(f["what"], f["observed"], f["expected"], f["where"]) for f in raw)


def _item(d: Mapping[str, Any]) -> ItemResult:
    pb = d.get("produced_by")
    return ItemResult(
        d["id"], d["title"], d["text"], d["kind"], d["severity"], tuple(d["components"]), _outcome(d["outcome"]),
        d["reason"], _evidence(d["evidence"]), _tests(d["tests"]), _findings(d.get("findings", ())),
        tuple(PartResult(p["name"], p["component"], _outcome(p["outcome"]), p["reason"], _findings(p["findings"]),
                         _evidence(p["evidence"]), _tests(p["tests"])) for p in d.get("parts", ())),
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


# -- building from a run -----------------------------------------------------------------------
def _instance(phases: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The phase (setup, call or teardown) that gives a test its outcome, by the plugin's one rule."""
    outcome = instance_outcome({w: str(p["outcome"]) for w, p in phases.items()})
    chosen = (p for w in ("setup", "call", "teardown") if (p := phases.get(w)) and str(p["outcome"]) == outcome)
    return next(chosen, {"outcome": outcome, "reason": "", "waived_from": None})


def _plain(value: Any) -> Any:
    """What the value reads back as from JSON (tuples become lists), so a built record round-trips."""
    return json.loads(json.dumps(value))


def _as_finding(f: Any) -> Finding:
    d = f.as_dict() if isinstance(f, Finding) else f
    return Finding(str(d["what"]), str(d["observed"]), str(d["expected"]), str(d["where"]))


@dataclass(frozen=True, slots=True)
class _Instance:
    test: TestResult
    findings: tuple[Finding, ...]
    evidence: tuple[EvidenceEntry, ...]


def _worst(instances: Sequence[_Instance]) -> tuple[Outcome, str, tuple[Finding, ...]]:
    """The outcome of several instances (the worst), and the reasons and findings of those that had it."""
    if not instances:
        return NOT_RUN, "not selected in this run", ()
    outcome = combine(i.test.outcome for i in instances)
    worst = [i for i in instances if i.test.outcome == outcome]
    reasons = list(dict.fromkeys(i.test.reason for i in worst if i.test.reason))
    return outcome, "\n".join(reasons), tuple(dict.fromkeys(f for i in worst for f in i.findings))


def _part_component(entry: CatalogItem, name: str) -> str | None:
    declared = entry.part(name)
    if declared is not None:
        return declared.component
    return name if name in COMPONENTS else None


def _item_result(entry: CatalogItem, by_part: Mapping[str | None, list[_Instance]], session: Any) -> ItemResult:
    everything = sorted((i for insts in by_part.values() for i in insts), key=lambda i: i.test.nodeid)
    outcome, reason, findings = _worst(everything)
    parts: list[PartResult] = []
    names = [p for p in by_part if p is not None]
    order = [p.name for p in entry.parts if p.name in names] + sorted(n for n in names if entry.part(n) is None)
    for name in order:
        insts = sorted(by_part[name], key=lambda i: i.test.nodeid)
        p_outcome, p_reason, p_findings = _worst(insts)
        parts.append(PartResult(name, _part_component(entry, name), p_outcome, p_reason, p_findings,
                                tuple(e for i in insts for e in i.evidence), tuple(i.test for i in insts)))
    if parts:  # say which part a reason comes from
        lines = [f"part {name}: {line}" for name in order for i in by_part[name]
                 if i.test.outcome == outcome for line in i.test.reason.splitlines() if line.strip()]
        lines += [i.test.reason for i in by_part.get(None, []) if i.test.outcome == outcome and i.test.reason]
        reason = "\n".join(dict.fromkeys(lines))
    records = session.records
    return ItemResult(
        entry.id, entry.title, entry.text, entry.kind, entry.severity, tuple(entry.components), outcome, reason,
        tuple(e for i in everything for e in i.evidence), tuple(i.test for i in everything), findings,
        tuple(parts),
        records.waivers[entry.id] if entry.id in records.waivers and outcome == WAIVED else None,
        records.attestations[entry.id] if entry.id in records.attestations and outcome == Outcome.ATTESTED else None,
        dict(records.expired[entry.id]) if entry.id in records.expired else None)


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def build_record(session: Any, finished: dt.datetime) -> Record:
    """The record of a run from the plugin's session (``session.results``, see ``docs/checklist-json.md``).

    ``session.results`` maps nodeid to ``{nodeid, item, part, duration, evidence, phases}``, with
    ``phases[setup|call|teardown] = {outcome, reason, waived_from, findings}``. The record has no
    revision yet: the sign-off plugin gives it one.
    """
    catalog: Catalog = session.catalog
    profile = session.profile
    by_item: dict[str, dict[str | None, list[_Instance]]] = {}
    for nodeid in sorted(session.results):
        res = session.results[nodeid]
        phase = _instance(res["phases"])
        waived_from = phase.get("waived_from")
        test = TestResult(nodeid, _outcome(str(phase["outcome"])), phase["reason"],
                          _outcome(str(waived_from)) if waived_from else None, res["duration"])
        by_item.setdefault(res["item"], {}).setdefault(res.get("part"), []).append(_Instance(
            test, tuple(dict.fromkeys(_as_finding(f) for f in phase.get("findings") or ())),
            _evidence(_plain(res["evidence"]))))
    sections = tuple(
        Section(sec.number, sec.title, sec.marker, sec.sign_off_role, tuple(
            Group(title, tuple(_item_result(entry, by_item.get(entry.id, {}), session)
                               for entry in catalog.items_of(sec.number) if entry.group == title))
            for title in sec.groups))
        for sec in catalog.sections)
    rootdir = session.config.rootpath
    started: dt.datetime = session.started
    return Record(
        Environment(profile.name if profile else session.env_name,
                    tuple(os.path.relpath(p, rootdir) for p in profile.sources) if profile else (),
                    profile.description if profile else ""),
        Run(started.isoformat(timespec="seconds"), finished.isoformat(timespec="seconds"),
            round((finished - started).total_seconds(), 3), __version__, _git_commit(rootdir), platform.node(),
            tuple(session.redactor.text(str(a)) for a in session.config.invocation_params.args)),
        sections, tuple(catalog.approval_roles),
        tuple(Problem(p["file"], p["key"], p["message"]) for p in session.records.problems))
