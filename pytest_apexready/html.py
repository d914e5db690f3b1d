"""``checklist.html``: one self-contained page that reads like the checklist, rendered from the record."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from . import outcomes as oc

_COLOURS = {
    oc.PASSED: ("#e6f4ea", "#137333"), oc.ATTESTED: ("#e6f4ea", "#137333"),
    oc.WAIVED: ("#fef7e0", "#8a6100"), oc.NOT_APPLICABLE: ("#f1f3f4", "#5f6368"),
    oc.FAILED: ("#fce8e6", "#a50e0e"), oc.ERROR: ("#fce8e6", "#a50e0e"),
    oc.AWAITING: ("#fde7f3", "#9c166b"), oc.NOT_AUTOMATED: ("#e8f0fe", "#174ea6"),
    oc.NOT_RUN: ("#f1f3f4", "#5f6368"),
}
_TEXT = {
    oc.PASSED: "passed", oc.FAILED: "failed", oc.ERROR: "error: could not check", oc.NOT_APPLICABLE: "not applicable",
    oc.WAIVED: "waived", oc.ATTESTED: "attested", oc.AWAITING: "awaiting attestation",
    oc.NOT_AUTOMATED: "not yet automated", oc.NOT_RUN: "not run",
}

_CSS = """
body{font:15px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#202124}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-top:1px solid #dadce0;padding-top:1em;margin-top:1.6em}
h3{margin:1em 0 .3em;color:#3c4043}ul.items{list-style:none;padding-left:0;margin:0}
li.item{margin:.35em 0;padding:.45em .6em;border-radius:6px;border-left:5px solid}
.box{font-family:monospace;font-weight:bold;margin-right:.4em}.id{color:#5f6368;font-size:.9em;margin-right:.3em}
.badge{display:inline-block;font-size:.8em;padding:.05em .5em;border-radius:10px;margin-left:.5em;font-weight:600}
.reason{white-space:pre-wrap;font-size:.88em;margin:.3em 0 0 1.9em}
details{margin:.2em 0 0 1.9em;font-size:.85em}code{background:#f1f3f4;padding:0 .25em;border-radius:3px;word-break:break-all}
.signoff{margin:1em 0;padding:.6em .8em;border-radius:6px;font-weight:600}
.ready{background:#e6f4ea;color:#137333}.notready{background:#fce8e6;color:#a50e0e}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #dadce0;padding:.35em .7em;text-align:left}
.meta{color:#5f6368}.problems{background:#fef7e0;padding:.5em 1em;border-radius:6px}
"""


def _badge(outcome: str) -> str:
    bg, fg = _COLOURS[outcome]
    return f'<span class="badge" style="background:{fg};color:#fff" data-outcome="{outcome}">{_TEXT[outcome]}</span>'


def _item(item: dict[str, Any]) -> str:
    bg, fg = _COLOURS[item["outcome"]]
    box = "[x]" if item["checked"] else "[ ]"
    text = f": {escape(item['text'])}" if item["text"] else ""
    parts = [f'<li class="item" id="item-{escape(item["id"])}" data-outcome="{item["outcome"]}" '
             f'style="background:{bg};border-color:{fg}">',
             f'<span class="box">{box}</span> <span class="id">{escape(item["id"])}</span> '
             f'<strong>{escape(item["title"])}</strong>{text} {_badge(item["outcome"])}']
    if item["reason"]:
        parts.append(f'<div class="reason">{escape(item["reason"])}</div>')
    extra = []
    for key, label in (("waiver", "waiver"), ("attestation", "attestation")):
        if key in item:
            extra.append(f"<div><b>{label}</b>: " + ", ".join(f"{escape(k)}: {escape(str(v))}"
                                                               for k, v in item[key].items()) + "</div>")
    for ev in item["evidence"]:
        value = json.dumps(ev["value"], ensure_ascii=False)
        src = f' <span class="meta">from {escape(ev["source"])}</span>' if ev["source"] else ""
        extra.append(f"<div><code>{escape(ev['name'])}</code> = <code>{escape(value[:600])}</code>{src}</div>")
    if extra:
        parts.append(f"<details><summary>evidence ({len(item['evidence'])})</summary>{''.join(extra)}</details>")
    parts.append("</li>")
    return "".join(parts)


def _signoff(sec: dict[str, Any]) -> str:
    sigs = sec.get("signatures", [])
    valid = [s for s in sigs if s.get("status", "valid") == "valid"]
    invalid = [s for s in sigs if s.get("status", "valid") != "valid"]
    who = "_________________"
    if valid:
        s = valid[-1]
        who = f"{escape(s['name'])} on {escape(s['date'])}, key {escape(s['fingerprint'])}"
    state = "signed" if valid else "ready to sign" if sec["ready"] else "not ready: blocked by " + ", ".join(sec["blocking"])
    note = "".join(f"<div>signature by {escape(s['name'])} is {escape(s.get('status', ''))}</div>" for s in invalid)
    cls = "ready" if sec["ready"] else "notready"
    return (f'<div class="signoff {cls}" data-section="{sec["number"]}" data-ready="{str(sec["ready"]).lower()}">'
            f'Sign-off: {who} ({escape(sec["sign_off_role"])}) — {escape(state)}{note}</div>')


def render_html(record: dict[str, Any]) -> str:
    env, run, summary = record["environment"], record["run"], record["summary"]
    body = ["<h1>Pre-Deployment Checklist - ApexMediation</h1>",
            f'<p class="meta">Environment <b id="env">{escape(env["name"])}</b> · run {escape(run["started"])} to '
            f'{escape(run["finished"])} · pytest-apexready {escape(run["tool_version"])}'
            + (f' · commit {escape(run["git_commit"][:12])}' if run.get("git_commit") else "") + "</p>",
            '<table id="summary"><tr>' + "".join(f"<th>{_TEXT[o]}</th>" for o, n in summary["outcomes"].items() if n)
            + "</tr><tr>" + "".join(f'<td data-outcome="{o}">{n}</td>' for o, n in summary["outcomes"].items() if n)
            + "</tr></table>"]
    if record["problems"]:
        body.append('<div class="problems" id="problems"><b>Problems in the records</b><ul>' + "".join(
            f"<li><code>{escape(p['file'])}</code> {escape(p['key'])}: {escape(p['message'])}</li>"
            for p in record["problems"]) + "</ul></div>")
    for sec in record["sections"]:
        body.append(f'<section id="section-{sec["number"]}"><h2>{sec["number"]}. {escape(sec["title"])}</h2>')
        for group in sec["groups"]:
            body.append(f"<h3>{escape(group['title'])}</h3><ul class=\"items\">")
            body.extend(_item(i) for i in group["items"])
            body.append("</ul>")
        body.append(_signoff(sec) + "</section>")
    rows = "".join(
        f"<tr><td>{escape(a['role'])}</td><td>{escape(a['name'] or '')}</td>"
        f"<td><code>{escape((a['signature'] or '')[:24])}</code></td><td>{escape(a['date'] or '')}</td>"
        f"<td>{', '.join(map(str, a['sections']))}</td><td>{'ready' if a['ready'] else 'not ready'}</td></tr>"
        for a in record["approvals"])
    body.append('<h2>Approval Signatures</h2><table id="approvals"><tr><th>Role</th><th>Name</th><th>Signature</th>'
                f"<th>Date</th><th>Sections</th><th>State</th></tr>{rows}</table>")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Checklist: {escape(env['name'])}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
