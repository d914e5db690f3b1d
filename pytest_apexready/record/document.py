"""The record and its sections: what they hold, and what is derived from their items (counts, readiness,
blocking items, the summary, the approval table) as properties, never stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ..outcomes import OUTCOMES, Outcome
from .items import SCHEMA, ItemResult, RecordError, Signature, counts_json, record_text

__all__ = ["Approval", "Environment", "Group", "Problem", "Record", "Revision", "RevisionHeader", "Run", "Section",
           "Summary"]

#: sections 1-10 gate the deploy; 11 (the post-deployment schedule) happens after it
LAST_GATING_SECTION = 10


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
                "counts": counts_json(self.counts),
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
        return {"items": self.items, "outcomes": counts_json(self.outcomes),
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
        from .parse import parse_record  # parse.py builds these classes: imported here, not at the top

        return parse_record(doc, where, strict)


