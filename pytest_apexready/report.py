"""The rendered checklist: ``checklist.json`` (the record), with Markdown and HTML made from it, and the
terminal summary. :func:`publish` is the end of a run: build the record, let the hooks finish it, write it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .evidence import NOTE
from .hooks import RecordSlot
from .outcomes import ERROR, FAILED, Finding
from .record import (
    V1_OUTCOMES,
    EvidenceEntry,
    ItemResult,
    PartResult,
    Record,
    Section,
    build_record,
    reason_beyond_findings,
)

__all__ = ["build_record", "publish", "render_markdown", "terminal_summary", "write_reports"]

#: how much of an item the Markdown shows (the JSON and the HTML hold all of it)
_MD_REASON_LINES, _MD_FINDINGS, _MD_EVIDENCE = 6, 20, 8


def publish(session: Any, finished: dt.datetime, outdir: Path) -> RecordSlot:
    """Build the run's record, let the ``pytest_apexready_record``/``_written`` hooks finish it, write the files."""
    config = session.config
    slot = RecordSlot(build_record(session, finished))
    config.hook.pytest_apexready_record(slot=slot, outdir=outdir, config=config)
    slot.paths = write_reports(slot.record, outdir)
    config.hook.pytest_apexready_written(slot=slot, outdir=outdir, config=config)
    return slot


def write_reports(record: Record, outdir: Path) -> list[Path]:
    from .html import render_html

    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("checklist.json", record.text()), ("checklist.md", render_markdown(record)),
                       ("checklist.html", render_html(record))):
        path = outdir / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, "utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


# -- Markdown -----------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_evidence(entries: Sequence[EvidenceEntry], indent: str) -> list[str]:
    # parametrized instances often note the same thing: once is enough
    out = [f"{indent}- note: {text}" for text in dict.fromkeys(str(e.value) for e in entries if e.name == NOTE)]
    for ev in [e for e in entries if e.name != NOTE][:_MD_EVIDENCE]:
        value = json.dumps(ev.value, ensure_ascii=False)
        value = value if len(value) <= 160 else value[:157] + "..."
        src = f" (from {ev.source})" if ev.source else ""
        out.append(f"{indent}- evidence `{ev.name}` = `{value}`{src}")
    return out


def _md_findings(findings: Sequence[Finding], reason: str, indent: str) -> list[str]:
    out = [f"{indent}- {f.line()}" for f in findings[:_MD_FINDINGS]]
    if len(findings) > _MD_FINDINGS:
        out.append(f"{indent}- ... and {len(findings) - _MD_FINDINGS} more findings (checklist.json has them all)")
    out += [f"{indent}- {line}" for line in reason_beyond_findings(reason, findings)[:_MD_REASON_LINES]]
    return out


def _md_part(part: PartResult) -> list[str]:
    comp = f" ({part.component})" if part.component else ""
    return [f"  - part **{part.name}**{comp}: *{part.outcome.label}*",
            *_md_findings(part.findings, part.reason, "    "), *_md_evidence(part.evidence, "    ")]


def _md_item(item: ItemResult) -> list[str]:
    mark = "x" if item.checked else " "
    text = f" {item.text}" if item.text else ""
    out = [f"- [{mark}] **{item.id} {item.title}:**{text} — *{item.outcome.label}*"]
    if item.parts:  # each part under the item, with its own outcome, findings and evidence
        for part in item.parts:
            out += _md_part(part)
    else:
        out += _md_findings(item.findings, item.reason, "  ") + _md_evidence(item.evidence, "  ")
    if item.waiver is not None:
        w = item.waiver
        out.append(f"  - waived by {w.approved_by} until {w.expires}: {w.justification}")
    if item.attestation is not None:
        a = item.attestation
        out.append(f"  - attested by {a.attested_by} on {a.date} (expires {a.expires}): {a.evidence}")
    return out


def _signature_line(sec: Section) -> str:
    s = sec.latest_valid
    return "_________________" if s is None else f"{s.name}, {s.date}, key {s.fingerprint}"


def render_markdown(record: Record, since: Mapping[str, str] | None = None, since_title: str = "") -> str:
    """``since``: item id -> what changed since the previous run (pytest_apexready.history), shown under the item."""
    env, run, summary = record.environment, record.run, record.summary
    out = [
        "# Pre-Deployment Checklist - ApexMediation",
        f"**Environment:** {env.name}  ",
        f"**Run:** {run.started} to {run.finished} (pytest-apexready {run.tool_version}"
        + (f", commit {run.git_commit[:12]}" if run.git_commit else "") + ")  ",
        f"**Ready for sign-off:** {'yes' if summary.ready else 'no'}",
        "",
    ]
    if since_title:
        out += [f"**Since the previous run:** {since_title}", ""]
    if record.problems:
        out += ["> **Problems in the records:**"]
        out += [f"> - `{p.file}` {p.key}: {p.message}" for p in record.problems]
        out.append("")
    for sec in record.sections:
        out += ["---", "", f"## {sec.number}. {sec.title}", ""]
        for group in sec.groups:
            out += [f"### {group.title}"]
            for item in group.items:
                out += _md_item(item)
                if since and item.id in since:
                    out.append(f"  - since the previous run: {since[item.id]}")
            out.append("")
        state = "SIGNED" if sec.latest_valid else "READY to sign" if sec.ready else \
            f"NOT READY: blocked by {', '.join(sec.blocking)}"
        out += [f"**Sign-off:** {_signature_line(sec)} ({sec.sign_off_role}) — {state}"]
        out += [f"- signature by {s.name} is {s.state}" for s in sec.signatures if not s.is_valid]
        out.append("")
    out += ["---", "", "## Approval Signatures", "", "| Role | Name | Signature | Date | Sections | Ready |",
            "|------|------|-----------|------|----------|-------|"]
    for ap in record.approvals:
        out.append(f"| {ap.role} | {ap.name or '_____________'} | {_md(ap.signature or '_____________')} | "
                   f"{ap.date or '____/____/____'} | {', '.join(map(str, ap.sections))} | "
                   f"{'yes' if ap.ready else 'no'} |")
    out += ["", "## Summary", "", "| Outcome | Items |", "|---|---|"]
    out += [f"| {o.label} | {n} |" for o, n in summary.outcomes.items() if n]
    return "\n".join(out) + "\n"


# -- the terminal --------------------------------------------------------------------------------
_TERMINAL_FINDINGS = 5


def _terminal_findings(record: Record, tr: Any) -> None:
    """Failed and errored items that carry findings or parts: what was found, and each part's outcome."""
    shown = [i for i in record.items if i.outcome in (FAILED, ERROR) and (i.findings or i.parts)]
    if not shown:
        return
    tr.write_line("findings (observed; expected; where it was read):")
    for item in shown:
        parts = "; ".join(f"part {p.name}: {p.outcome.label}" for p in item.parts)
        tr.write_line(f"  {item.id} {item.title}: {item.outcome.label}" + (f" ({parts})" if parts else ""), red=True)
        sources = [(f"{p.name}: ", p.findings) for p in item.parts] if item.parts else [("", item.findings)]
        for prefix, findings in sources:
            for f in findings[:_TERMINAL_FINDINGS]:
                tr.write_line(f"      {prefix}{f.line()}")
            if len(findings) > _TERMINAL_FINDINGS:
                tr.write_line(f"      {prefix}... and {len(findings) - _TERMINAL_FINDINGS} more (see the report)")


def terminal_summary(record: Record, tr: Any, paths: list[Path]) -> None:
    tr.section("apexready checklist", sep="=", bold=True)
    totals = record.summary.outcomes
    cols = [o for o, n in totals.items() if n or o.value in V1_OUTCOMES]  # later outcomes only when they occur
    tr.write_line(f"{'section':<41}" + "".join(f"{c.short:>9}" for c in cols) + "  sign-off")
    for sec in record.sections:
        c = sec.counts
        name = f"{sec.number:>2}. {sec.title}"[:40]
        ready = "READY" if sec.ready else "not ready"
        line = f"{name:<41}" + "".join(f"{c[o] or '.':>9}" for o in cols) + f"  {ready} ({sec.sign_off_role})"
        tr.write_line(line, green=sec.ready, red=not sec.ready and bool(c[FAILED] or c[ERROR]))
    tr.write_line(f"{'total':<41}" + "".join(f"{totals[o] or '.':>9}" for o in cols))
    signable = record.summary.sections_ready
    tr.write_line(f"sections ready for sign-off: {', '.join(map(str, signable)) if signable else 'none'}")
    _terminal_findings(record, tr)
    for p in record.problems:
        tr.write_line(f"problem: {p.file} {p.key}: {p.message}", yellow=True)
    if paths:
        tr.write_line("checklist written: " + ", ".join(str(p) for p in paths))
