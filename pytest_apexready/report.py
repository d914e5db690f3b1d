"""The rendered checklist: ``checklist.json`` (canonical), with Markdown and HTML made from it.

Schema ``apexready.checklist/v1`` is documented in ``docs/checklist-json.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from . import __version__
from . import outcomes as oc

__all__ = ["build_record", "write_reports", "render_markdown", "terminal_summary", "SCHEMA", "item_outcome"]

SCHEMA = "apexready.checklist/v1"

_LABEL = {
    oc.PASSED: "passed", oc.FAILED: "FAILED", oc.ERROR: "ERROR (could not check)",
    oc.NOT_APPLICABLE: "not applicable", oc.WAIVED: "waived", oc.ATTESTED: "attested",
    oc.AWAITING: "AWAITING ATTESTATION", oc.NOT_AUTOMATED: "not yet automated", oc.NOT_RUN: "not run",
}
_SHORT = {oc.PASSED: "passed", oc.FAILED: "failed", oc.ERROR: "error", oc.NOT_APPLICABLE: "n/a",
          oc.WAIVED: "waived", oc.ATTESTED: "attested", oc.AWAITING: "awaiting",
          oc.NOT_AUTOMATED: "not auto", oc.NOT_RUN: "not run"}


def instance_outcome(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One test's outcome from its setup, call and teardown phases."""
    setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
    if setup and setup["outcome"] != oc.PASSED:
        return setup
    result = call or setup or {"outcome": oc.NOT_RUN, "reason": "", "waived_from": None}
    if teardown and teardown["outcome"] != oc.PASSED and result["outcome"] in (oc.PASSED, oc.ATTESTED):
        return teardown
    return result


def item_outcome(instances: list[dict[str, Any]]) -> tuple[str, str]:
    if not instances:
        return oc.NOT_RUN, "not selected in this run"
    outcome = oc.combine([i["outcome"] for i in instances])
    reasons = []
    for inst in instances:
        if inst["outcome"] == outcome and inst["reason"] and inst["reason"] not in reasons:
            reasons.append(inst["reason"])
    return outcome, "\n".join(reasons)


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def build_record(session: Any, finished: dt.datetime) -> dict[str, Any]:
    catalog = session.catalog
    profile = session.profile
    by_item: dict[str, list[dict[str, Any]]] = {}
    for nodeid in sorted(session.results):
        res = session.results[nodeid]
        inst = instance_outcome(res["phases"])
        by_item.setdefault(res["item"], []).append({
            "nodeid": nodeid, "outcome": inst["outcome"], "reason": inst["reason"],
            "waived_from": inst.get("waived_from"), "duration_s": res["duration"], "evidence": res["evidence"],
        })
    sections = []
    totals = {o: 0 for o in oc.OUTCOMES}
    for sec in catalog.sections:
        groups = []
        counts = {o: 0 for o in oc.OUTCOMES}
        blocking = []
        for group_title in sec.groups:
            items = []
            for entry in (i for i in catalog.items_of(sec.number) if i.group == group_title):
                instances = by_item.get(entry.id, [])
                outcome, reason = item_outcome(instances)
                counts[outcome] += 1
                totals[outcome] += 1
                if outcome not in oc.SIGNABLE:
                    blocking.append(entry.id)
                item = {
                    "id": entry.id, "title": entry.title, "text": entry.text, "kind": entry.kind,
                    "severity": entry.severity, "components": list(entry.components),
                    "outcome": outcome, "checked": outcome in oc.SIGNABLE, "reason": reason,
                    "evidence": [e for inst in instances for e in inst["evidence"]],
                    "tests": [{k: v for k, v in inst.items() if k != "evidence"} for inst in instances],
                }
                if entry.id in session.records.waivers and outcome == oc.WAIVED:
                    item["waiver"] = session.records.waivers[entry.id].as_dict()
                if entry.id in session.records.attestations and outcome == oc.ATTESTED:
                    item["attestation"] = session.records.attestations[entry.id].as_dict()
                if entry.id in session.records.expired:
                    item["expired_record"] = session.records.expired[entry.id]
                items.append(item)
            groups.append({"title": group_title, "items": items})
        sections.append({
            "number": sec.number, "title": sec.title, "marker": sec.marker, "sign_off_role": sec.sign_off_role,
            "ready": not blocking, "blocking": blocking, "counts": counts, "groups": groups,
            "signatures": [],
        })
    approvals = [{"role": role, "sections": [s["number"] for s in sections if s["sign_off_role"] == role],
                  "ready": all(s["ready"] for s in sections if s["sign_off_role"] == role),
                  "name": None, "date": None, "signature": None}
                 for role in catalog.approval_roles]
    rootdir = session.config.rootpath
    return {
        "schema": SCHEMA,
        "environment": {
            "name": profile.name if profile else session.env_name,
            "profile": [os.path.relpath(p, rootdir) for p in profile.sources] if profile else [],
            "description": profile.description if profile else "",
        },
        "run": {
            "started": session.started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "duration_s": round((finished - session.started).total_seconds(), 3),
            "tool_version": __version__,
            "git_commit": _git_commit(rootdir),
            "host": platform.node(),
            "args": [session.redactor.text(a) for a in session.config.invocation_params.args],
        },
        "summary": {
            "items": sum(totals.values()),
            "outcomes": totals,
            "sections_ready": [s["number"] for s in sections if s["ready"]],
            "ready": all(s["ready"] for s in sections if s["number"] <= 10),
        },
        "sections": sections,
        "approvals": approvals,
        "problems": list(session.records.problems),
    }


def write_reports(record: dict[str, Any], outdir: Path) -> list[Path]:
    from .html import render_html

    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("checklist.json", json.dumps(record, indent=2, sort_keys=False) + "\n"),
                       ("checklist.md", render_markdown(record)),
                       ("checklist.html", render_html(record))):
        path = outdir / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, "utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(record: dict[str, Any]) -> str:
    env = record["environment"]
    run = record["run"]
    out = [
        "# Pre-Deployment Checklist - ApexMediation",
        f"**Environment:** {env['name']}  ",
        f"**Run:** {run['started']} to {run['finished']} (pytest-apexready {run['tool_version']}"
        + (f", commit {run['git_commit'][:12]}" if run.get("git_commit") else "") + ")  ",
        f"**Ready for sign-off:** {'yes' if record['summary']['ready'] else 'no'}",
        "",
    ]
    if record["problems"]:
        out += ["> **Problems in the records:**"]
        out += [f"> - `{p['file']}` {p['key']}: {p['message']}" for p in record["problems"]]
        out.append("")
    for sec in record["sections"]:
        out += ["---", "", f"## {sec['number']}. {sec['title']}", ""]
        for group in sec["groups"]:
            out += [f"### {group['title']}"]
            for item in group["items"]:
                mark = "x" if item["checked"] else " "
                text = f" {item['text']}" if item["text"] else ""
                out.append(f"- [{mark}] **{item['id']} {item['title']}:**{text} — *{_LABEL[item['outcome']]}*")
                if item["reason"]:
                    for line in item["reason"].splitlines()[:6]:
                        out.append(f"  - {line}")
                for ev in item["evidence"][:8]:
                    value = json.dumps(ev["value"], ensure_ascii=False)
                    value = value if len(value) <= 160 else value[:157] + "..."
                    src = f" (from {ev['source']})" if ev["source"] else ""
                    out.append(f"  - evidence `{ev['name']}` = `{value}`{src}")
                if "waiver" in item:
                    w = item["waiver"]
                    out.append(f"  - waived by {w['approved_by']} until {w['expires']}: {w['justification']}")
                if "attestation" in item:
                    a = item["attestation"]
                    out.append(f"  - attested by {a['attested_by']} on {a['date']} (expires {a['expires']}): {a['evidence']}")
            out.append("")
        signed = any(s.get("status", "valid") == "valid" for s in sec.get("signatures", []))
        state = "SIGNED" if signed else "READY to sign" if sec["ready"] else \
            f"NOT READY: blocked by {', '.join(sec['blocking'])}"
        sig = _signature_line(sec)
        out += [f"**Sign-off:** {sig} ({sec['sign_off_role']}) — {state}", ""]
    out += ["---", "", "## Approval Signatures", "", "| Role | Name | Signature | Date | Sections | Ready |",
            "|------|------|-----------|------|----------|-------|"]
    for ap in record["approvals"]:
        out.append(f"| {ap['role']} | {ap['name'] or '_____________'} | {_md(ap['signature'] or '_____________')} | "
                   f"{ap['date'] or '____/____/____'} | {', '.join(map(str, ap['sections']))} | "
                   f"{'yes' if ap['ready'] else 'no'} |")
    out += ["", "## Summary", "", "| Outcome | Items |", "|---|---|"]
    out += [f"| {_LABEL[o]} | {n} |" for o, n in record["summary"]["outcomes"].items() if n]
    return "\n".join(out) + "\n"


def _signature_line(sec: dict[str, Any]) -> str:
    valid = [s for s in sec.get("signatures", []) if s.get("status", "valid") == "valid"]
    if not valid:
        return "_________________"
    s = valid[-1]
    return f"{s['name']}, {s['date']}, key {s['fingerprint']}"


def terminal_summary(record: dict[str, Any], tr: Any, paths: list[Path]) -> None:
    tr.section("apexready checklist", sep="=", bold=True)
    cols = [o for o in oc.OUTCOMES]
    head = f"{'section':<41}" + "".join(f"{_SHORT[c]:>9}" for c in cols) + "  sign-off"
    tr.write_line(head)
    for sec in record["sections"]:
        c = sec["counts"]
        name = f"{sec['number']:>2}. {sec['title']}"[:40]
        ready = "READY" if sec["ready"] else "not ready"
        line = f"{name:<41}" + "".join(f"{c[o] or '.':>9}" for o in cols) + f"  {ready} ({sec['sign_off_role']})"
        tr.write_line(line, green=sec["ready"], red=not sec["ready"] and bool(c[oc.FAILED] or c[oc.ERROR]))
    totals = record["summary"]["outcomes"]
    tr.write_line(f"{'total':<41}" + "".join(f"{totals[o] or '.':>9}" for o in cols))
    ready = record["summary"]["sections_ready"]
    tr.write_line(f"sections ready for sign-off: {', '.join(map(str, ready)) if ready else 'none'}")
    for p in record["problems"]:
        tr.write_line(f"problem: {p['file']} {p['key']}: {p['message']}", yellow=True)
    if paths:
        tr.write_line("checklist written: " + ", ".join(str(p) for p in paths))
