"""The leaves of the record: an item's result, its parts, tests, evidence and findings, and a signature.

Also what every part of the record shares: its error type, the schema name, the byte layout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..outcomes import Finding, Outcome
from ..records import Attestation, Waiver

__all__ = [
    "SCHEMA", "V1_OUTCOMES", "EvidenceEntry", "ItemResult", "PartResult", "ProducedBy", "RecordError", "Signature",
    "TestResult", "counts_json", "reason_beyond_findings", "record_text",
]

SCHEMA = "apexready.checklist/v1"

Json = Any

#: the outcomes schema v1 began with: their counts are always written, zeros included; an outcome added
#: since (not_yet_due) is counted only where it occurs, so the records written before it keep their bytes
V1_OUTCOMES: tuple[str, ...] = ("passed", "failed", "error", "not_applicable", "waived", "attested",
                                "awaiting_attestation", "not_automated", "not_run")


def counts_json(counts: Mapping[Outcome, int]) -> dict[str, int]:
    """``{outcome: count}`` as the record writes it (summary.outcomes, a section's counts)."""
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


