"""``checklist.html``: one self-contained page that reads like the checklist, rendered from the record.

At the top a dashboard a person scans: per section the outcome counts, ready to sign or not and who
signed, each row linking to its section; a filter that leaves only the items blocking sign-off; every
item has a permanent link (``#item-2.1.2``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape

from .evidence import NOTE
from .outcomes import Finding, Outcome
from .record import EvidenceEntry, ItemResult, PartResult, Record, Section, reason_beyond_findings

__all__ = ["render_html"]

#: (background, foreground) per outcome: green ticks the box, red fails, the rest in between
_COLOURS = {
    Outcome.PASSED: ("#e6f4ea", "#137333"), Outcome.ATTESTED: ("#e6f4ea", "#137333"),
    Outcome.WAIVED: ("#fef7e0", "#8a6100"), Outcome.NOT_APPLICABLE: ("#f1f3f4", "#5f6368"),
    Outcome.FAILED: ("#fce8e6", "#a50e0e"), Outcome.ERROR: ("#fce8e6", "#a50e0e"),
    Outcome.AWAITING: ("#fde7f3", "#9c166b"), Outcome.NOT_AUTOMATED: ("#e8f0fe", "#174ea6"),
    Outcome.NOT_YET_DUE: ("#f1f3f4", "#5f6368"), Outcome.NOT_RUN: ("#f1f3f4", "#5f6368"),
}
_NEUTRAL = ("#f1f3f4", "#5f6368")  # an outcome added later and not given colours yet

_CSS = """
body{font:15px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;
color:#202124}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-top:1px solid #dadce0;padding-top:1em;margin-top:1.6em}
h3{margin:1em 0 .3em;color:#3c4043}ul.items{list-style:none;padding-left:0;margin:0}
li.item{margin:.35em 0;padding:.45em .6em;border-radius:6px;border-left:5px solid}
.box{font-family:monospace;font-weight:bold;margin-right:.4em}.id{color:#5f6368;font-size:.9em;margin-right:.3em}
.badge{display:inline-block;font-size:.8em;padding:.05em .5em;border-radius:10px;margin-left:.5em;font-weight:600}
.reason{white-space:pre-wrap;font-size:.88em;margin:.3em 0 0 1.9em}
ul.findings{font-size:.88em;margin:.3em 0 0 1.9em;padding-left:1em}
.note{font-size:.85em;margin:.2em 0 0 1.9em;color:#3c4043}
.part{margin:.3em 0 0 1.9em;padding:.2em .5em;border-left:3px solid;font-size:.92em}
.part .reason,.part ul.findings,.part details,.part .note{margin-left:.5em}
details{margin:.2em 0 0 1.9em;font-size:.85em}
code{background:#f1f3f4;padding:0 .25em;border-radius:3px;word-break:break-all}
.signoff{margin:1em 0;padding:.6em .8em;border-radius:6px;font-weight:600}
.ready{background:#e6f4ea;color:#137333}.notready{background:#fce8e6;color:#a50e0e}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #dadce0;padding:.35em .7em;text-align:left}
.meta{color:#5f6368}.problems{background:#fef7e0;padding:.5em 1em;border-radius:6px}
#dashboard td.n{text-align:right;font-variant-numeric:tabular-nums}#dashboard td.zero{color:#bdc1c6}
#dashboard a{color:inherit}.filter{margin:.5em 0 1em;font-weight:600}
a.permalink{color:#9aa0a6;text-decoration:none;margin-left:.4em;font-size:.85em}a.permalink:hover{color:#1a73e8}
body.only-blocking [data-blocking="false"]{display:none}
:target{outline:3px solid #1a73e8;outline-offset:2px}
"""

# the one script on the page: the "only what blocks sign-off" filter (the page works without it)
_SCRIPT = """
document.getElementById('only-blocking').addEventListener('change', function (e) {
  document.body.classList.toggle('only-blocking', e.target.checked);
});
"""


def _text(outcome: Outcome) -> str:
    # the page shows outcomes by colour, so the label needs no capitals for emphasis (the Markdown does)
    return outcome.label.lower()


def _badge(outcome: Outcome) -> str:
    _, fg = _COLOURS.get(outcome, _NEUTRAL)
    return (f'<span class="badge" style="background:{fg};color:#fff" data-outcome="{outcome.value}">'
            f"{_text(outcome)}</span>")


def _findings(findings: Sequence[Finding], reason: str) -> str:
    out = ""
    if findings:
        lines = "".join(f'<li class="finding">{escape(f.line())}</li>' for f in findings)
        out += f'<ul class="findings">{lines}</ul>'
    rest = reason_beyond_findings(reason, findings)
    if rest:
        out += f'<div class="reason">{escape(chr(10).join(rest))}</div>'
    return out


def _notes(entries: Sequence[EvidenceEntry]) -> str:
    notes = dict.fromkeys(str(e.value) for e in entries if e.name == NOTE)  # instances often repeat one
    return "".join(f'<div class="note">{escape(text)}</div>' for text in notes)


def _evidence(entries: Sequence[EvidenceEntry], extra: Sequence[str] = ()) -> str:
    rows = list(extra)
    observations = [e for e in entries if e.name != NOTE]
    for ev in observations:
        value = json.dumps(ev.value, ensure_ascii=False)
        src = f' <span class="meta">from {escape(ev.source)}</span>' if ev.source else ""
        rows.append(f"<div><code>{escape(ev.name)}</code> = <code>{escape(value[:600])}</code>{src}</div>")
    if not rows:
        return ""
    return f"<details><summary>evidence ({len(observations)})</summary>{''.join(rows)}</details>"


def _part(part: PartResult) -> str:
    _, fg = _COLOURS.get(part.outcome, _NEUTRAL)
    comp = f' <span class="meta">({escape(part.component)})</span>' if part.component else ""
    return (f'<div class="part" data-part="{escape(part.name)}" data-outcome="{part.outcome.value}" '
            f'style="border-color:{fg}">part <strong>{escape(part.name)}</strong>{comp} {_badge(part.outcome)}'
            f"{_findings(part.findings, part.reason)}{_notes(part.evidence)}{_evidence(part.evidence)}</div>")


def _item(item: ItemResult, since: str | None = None) -> str:
    bg, fg = _COLOURS.get(item.outcome, _NEUTRAL)
    box = "[x]" if item.checked else "[ ]"
    text = f": {escape(item.text)}" if item.text else ""
    anchor = f"item-{escape(item.id)}"  # a permanent link: the id is the checklist's own numbering
    parts = [f'<li class="item" id="{anchor}" data-outcome="{item.outcome.value}" '
             f'data-blocking="{_flag(not item.outcome.ticks)}" style="background:{bg};border-color:{fg}">',
             f'<span class="box">{box}</span> <span class="id">{escape(item.id)}</span> '
             f"<strong>{escape(item.title)}</strong>{text} {_badge(item.outcome)}"
             f'<a class="permalink" href="#{anchor}" title="permanent link to {escape(item.id)}">#</a>']
    records = [f"<div><b>{label}</b>: " + ", ".join(f"{escape(k)}: {escape(str(v))}" for k, v in rec.as_dict().items())
               + "</div>" for label, rec in (("waiver", item.waiver), ("attestation", item.attestation))
               if rec is not None]
    if item.parts:  # each part under the item, with its own outcome, findings and evidence
        parts += [_part(p) for p in item.parts]
        parts.append(_evidence((), records))
    else:
        parts += [_findings(item.findings, item.reason), _notes(item.evidence), _evidence(item.evidence, records)]
    if since:
        parts.append(f'<div class="since">since the previous run: {escape(since)}</div>')
    parts.append("</li>")
    return "".join(parts)


def _signoff(sec: Section) -> str:
    valid = sec.latest_valid
    who = "_________________"
    if valid is not None:
        who = f"{escape(valid.name)} on {escape(valid.date)}, key {escape(valid.fingerprint)}"
    state = "signed" if valid else "ready to sign" if sec.ready else "not ready: blocked by " + ", ".join(sec.blocking)
    note = "".join(f"<div>signature by {escape(s.name)} is {escape(s.state)}</div>"
                   for s in sec.signatures if not s.is_valid)
    cls = "ready" if sec.ready else "notready"
    return (f'<div class="signoff {cls}" data-section="{sec.number}" data-ready="{str(sec.ready).lower()}">'
            f"Sign-off: {who} ({escape(sec.sign_off_role)}) — {escape(state)}{note}</div>")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _signed_by(sec: Section) -> str:
    valid = sec.latest_valid
    if valid is not None:
        return f"{escape(valid.name)} ({escape(valid.role)}), {escape(valid.date)}"
    stale = [s for s in sec.signatures if not s.is_valid]
    return f'<span class="meta">not signed{" (" + escape(stale[-1].state) + ")" if stale else ""}</span>'


def _dashboard(record: Record) -> str:
    """The table at the top: per section its counts, ready or not and who signed; each row links to the section."""
    shown = [o for o, n in record.summary.outcomes.items() if n]
    head = ("<tr><th>Section</th><th>Signed off by</th>" + "".join(f"<th>{_text(o)}</th>" for o in shown)
            + "<th>Ready to sign</th><th>Signed</th></tr>")
    rows = []
    for sec in record.sections:
        counts = sec.counts
        cells = "".join(f'<td class="n{" zero" if not counts.get(o) else ""}" data-outcome="{o.value}">'
                        f"{counts.get(o, 0)}</td>" for o in shown)
        state = "ready" if sec.ready else f"not ready ({len(sec.blocking)} blocking)"
        rows.append(f'<tr data-section="{sec.number}" data-ready="{_flag(sec.ready)}" '
                    f'data-blocking="{_flag(not sec.ready)}" class="{"ready" if sec.ready else "notready"}">'
                    f'<td><a href="#section-{sec.number}">{sec.number}. {escape(sec.title)}</a></td>'
                    f"<td>{escape(sec.sign_off_role)}</td>{cells}<td>{state}</td><td>{_signed_by(sec)}</td></tr>")
    blocking = sum(len(sec.blocking) for sec in record.sections)
    return (f'<table id="dashboard">{head}{"".join(rows)}</table>'
            f'<label class="filter"><input type="checkbox" id="only-blocking"> show only the {blocking} items '
            "that block sign-off</label>")


def render_html(record: Record, since: Mapping[str, str] | None = None, since_title: str = "") -> str:
    env, run, summary = record.environment, record.run, record.summary
    counted = [(o, n) for o, n in summary.outcomes.items() if n]
    body = ["<h1>Pre-Deployment Checklist - ApexMediation</h1>",
            f'<p class="meta">Environment <b id="env">{escape(env.name)}</b> · run {escape(run.started)} to '
            f"{escape(run.finished)} · pytest-apexready {escape(run.tool_version)}"
            + (f" · commit {escape(run.git_commit[:12])}" if run.git_commit else "") + "</p>",
            '<table id="summary"><tr>' + "".join(f"<th>{_text(o)}</th>" for o, _ in counted)
            + "</tr><tr>" + "".join(f'<td data-outcome="{o.value}">{n}</td>' for o, n in counted) + "</tr></table>",
            _dashboard(record)]
    if since_title:
        body.append(f'<p class="meta" id="since">Since the previous run: {escape(since_title)}</p>')
    if record.problems:
        body.append('<div class="problems" id="problems"><b>Problems in the records</b><ul>' + "".join(
            f"<li><code>{escape(p.file)}</code> {escape(p.key)}: {escape(p.message)}</li>"
            for p in record.problems) + "</ul></div>")
    for sec in record.sections:
        body.append(f'<section id="section-{sec.number}" data-blocking="{_flag(not sec.ready)}">'
                    f"<h2>{sec.number}. {escape(sec.title)}</h2>")
        for group in sec.groups:
            blocks = any(not i.outcome.ticks for i in group.items)
            body.append(f'<div class="group" data-blocking="{_flag(blocks)}"><h3>{escape(group.title)}</h3>'
                        '<ul class="items">')
            body.extend(_item(i, (since or {}).get(i.id)) for i in group.items)
            body.append("</ul></div>")
        body.append(_signoff(sec) + "</section>")
    rows = "".join(
        f"<tr><td>{escape(a.role)}</td><td>{escape(a.name or '')}</td>"
        f"<td><code>{escape((a.signature or '')[:24])}</code></td><td>{escape(a.date or '')}</td>"
        f"<td>{', '.join(map(str, a.sections))}</td><td>{'ready' if a.ready else 'not ready'}</td></tr>"
        for a in record.approvals)
    body.append('<h2>Approval Signatures</h2><table id="approvals"><tr><th>Role</th><th>Name</th><th>Signature</th>'
                f"<th>Date</th><th>Sections</th><th>State</th></tr>{rows}</table>")
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Checklist: {escape(env.name)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + f"<script>{_SCRIPT}</script></body></html>\n")
