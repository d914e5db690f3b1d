"""Building the record of a run from the plugin's ``session.results``."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._phases import instance_outcome
from .._version import __version__
from ..catalog import COMPONENTS, Catalog
from ..catalog import Item as CatalogItem
from ..outcomes import NOT_RUN, WAIVED, Finding, Outcome, combine
from .document import Environment, Group, Problem, Record, Run, Section
from .items import EvidenceEntry, ItemResult, PartResult, TestResult
from .parse import evidence_entries, outcome_of

__all__ = ["build_record"]

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
        test = TestResult(nodeid, outcome_of(str(phase["outcome"])), phase["reason"],
                          outcome_of(str(waived_from)) if waived_from else None, res["duration"])
        by_item.setdefault(res["item"], {}).setdefault(res.get("part"), []).append(_Instance(
            test, tuple(dict.fromkeys(_as_finding(f) for f in phase.get("findings") or ())),
            evidence_entries(_plain(res["evidence"]))))
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

