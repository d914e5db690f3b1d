"""What the terminal says: a category, letter and word of its own for each checklist outcome.

Through pytest's ``pytest_report_teststatus``: awaiting attestation, not yet automated, not
applicable, waived and attested each get the word and letter of their :class:`Outcome`, in ``-v``
and in the final line (``57 passed, 51 awaiting attestation, 51 not automated, 1 not applicable``).
Only real failures stay in pytest's "failed" category, and items that could not be checked go to its
"error" category (also from the call phase), so only they get the long sections. ``-ra`` lists each
category under its own heading, one line per item.
"""

from __future__ import annotations

import shutil
from typing import Any

from . import outcomes as oc
from .catalog import Catalog
from .outcomes import Outcome

__all__ = ["OWN", "teststatus", "write_categories", "write_hint"]

#: outcomes that get a terminal category of their own (passed, failed and error keep pytest's)
OWN: tuple[Outcome, ...] = (oc.AWAITING, oc.NOT_AUTOMATED, oc.NOT_YET_DUE, oc.NOT_APPLICABLE, oc.WAIVED,
                             oc.ATTESTED)


def _outcome(report: Any) -> Outcome | None:
    apex = getattr(report, "apex", None)
    if not isinstance(apex, dict):
        return None
    try:
        return Outcome.parse(str(apex.get("outcome")))
    except ValueError:
        return None


def teststatus(report: Any) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """``(category, letter, (WORD, markup))`` for a checklist outcome of its own, else None (pytest decides)."""
    outcome = _outcome(report)
    if outcome is oc.ERROR and report.when == "call":
        # could not check (a target unreachable, say) is not a failure of the item: pytest's "error"
        return "error", "E", ("ERROR", {"red": True})
    if outcome is None or outcome not in OWN:
        return None
    return outcome.word, outcome.letter, (outcome.word.upper(), {"green": True} if outcome.ticks else {"yellow": True})


def write_hint(tr: Any, report: Any) -> None:
    """With ``-v``: under an item awaiting attestation, how to record it."""
    hint = report.apex.get("hint") if isinstance(getattr(report, "apex", None), dict) else None
    if not hint:
        return
    tr.ensure_newline()
    tr.write(f"    {hint}", yellow=True)
    # as pytest does after an xdist line: the next test starts on a new line
    tr.currentfspath = -2


def write_categories(tr: Any, catalog: Catalog, verbose: bool, attestations_file: str) -> None:
    """One heading per category, one line per item (or part) in it; lines cut to the terminal's width
    unless ``-v``, which also adds how to record each missing attestation."""
    width = shutil.get_terminal_size().columns
    for outcome in OWN:
        lines: dict[tuple[str, str | None], str] = {}
        for rep in tr.stats.get(outcome.word, []):
            apex = rep.apex
            key = (apex["item"], apex.get("part"))
            if key not in lines:
                lines[key] = _line(outcome, catalog, apex, rep, verbose)
        if not lines:
            continue
        where = f" (record them in {attestations_file})" if outcome is oc.AWAITING else ""
        tr.write_sep("-", f"{len(lines)} {outcome.word}{where}", **({"green": True} if outcome.ticks else
                                                                    {"yellow": True}))
        for line in lines.values():
            tr.write_line(line if verbose or len(line) <= width else line[:width - 3] + "...")


def _line(outcome: Outcome, catalog: Catalog, apex: dict[str, Any], rep: Any, verbose: bool) -> str:
    """``WORD id [part NAME] title[ - detail]``: the detail says what the id and title do not."""
    entry = catalog.get(apex["item"])
    part = apex.get("part")
    head = f"{outcome.word.upper()} {apex['item']}{f' part {part}' if part else ''} {entry.title if entry else ''}"
    reason = (apex.get("reason") or "").strip().splitlines()
    detail = ""
    if outcome is oc.AWAITING:
        hint = str(apex.get("hint") or "")
        # "no attestation is recorded" goes without saying; an expired one does not
        detail = hint if verbose else ("" if hint.startswith("no attestation") else hint.split(" in ", 1)[0])
    elif outcome is oc.NOT_AUTOMATED:
        declared = entry.part(part) if entry is not None and part else None
        detail = declared.text if declared is not None else ""
    elif outcome is oc.NOT_APPLICABLE:
        detail = reason[0] if reason else ""
    elif outcome is oc.WAIVED:
        detail = str(getattr(rep, "wasxfail", "") or "")
    elif outcome is oc.ATTESTED:
        att = next((e["value"] for e in apex.get("evidence", []) if e.get("name") == "attestation"), None)
        detail = (f"by {att.get('attested_by')} on {att.get('date')}, expires {att.get('expires')}"
                  if isinstance(att, dict) else "")
    return f"{head.rstrip()} - {detail}" if detail else head.rstrip()
