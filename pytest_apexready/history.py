"""History across runs and environments: ``apexready diff OLD NEW`` and ``apexready history``.

A diff compares two records item by item (yesterday's and today's run, or staging and production):

- **regressed**: the box was ticked and no longer is, or the item now fails or errors where it did not;
- **fixed**: the box was not ticked and now is;
- **changed**: any other change of outcome (failed to error, passed to not applicable, ...);
- **changed evidence**: same outcome, but what was read differs (a setting, a version, a count).

Items not run on one side (``-m`` selected other sections) are not compared: a narrower run is no regression.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import outcomes as oc
from . import store as st

__all__ = ["Change", "Diff", "add_cli", "diff_records", "item_history", "items_of", "load_any", "render_diff",
           "since_previous"]

_FAILING = frozenset({oc.FAILED, oc.ERROR})


@dataclass(frozen=True)
class Change:
    item: str
    title: str
    old: str
    new: str
    detail: str = ""

    def line(self) -> str:
        moved = f"{self.old} -> {self.new}" if self.old != self.new else self.new
        return f"{self.item} {self.title}: {moved}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Diff:
    old_name: str
    new_name: str
    regressed: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    evidence: list[Change] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        return 1 if self.regressed else 0


def load_any(path: Path) -> dict[str, Any]:
    """A record from a report directory, a ``checklist.json`` or a signed archive."""
    file = path / st.RECORD_NAME if path.is_dir() else path
    try:
        doc = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file}: cannot read a checklist record: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("record"), dict):
        doc = doc["record"]
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("apexready.checklist/"):
        raise ValueError(f"{file}: not an apexready checklist record (no schema apexready.checklist/v1)")
    return doc


def items_of(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for s in record["sections"] for g in s["groups"] for i in g["items"]}


def _name(record: dict[str, Any]) -> str:
    return f"{record['environment']['name']} {record['run']['started']}"


def _evidence(item: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ev in item.get("evidence", []):
        value = json.dumps(ev.get("value"), sort_keys=True, ensure_ascii=False)
        name = str(ev.get("name"))
        out[name] = value if name not in out else out[name] + "; " + value
    return out


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _outcome(value: str) -> oc.Outcome | None:
    try:
        return oc.Outcome.parse(value)
    except ValueError:  # a newer record's outcome this version does not know: compare it as a string
        return None


def classify(old: str, new: str) -> str:
    """'regressed', 'fixed' or 'changed' for two different outcomes."""
    o, n = _outcome(old), _outcome(new)
    if o is None or n is None:
        return "changed"
    if (o.ticks and not n.ticks) or (n in _FAILING and o not in _FAILING):
        return "regressed"
    if not o.ticks and n.ticks:
        return "fixed"
    return "changed"


def diff_records(old: dict[str, Any], new: dict[str, Any]) -> Diff:
    result = Diff(_name(old), _name(new))
    before, after = items_of(old), items_of(new)
    for item_id, item in after.items():
        prev = before.get(item_id)
        if prev is None:
            continue
        if oc.NOT_RUN.value in (prev["outcome"], item["outcome"]):
            if prev["outcome"] != item["outcome"]:
                result.not_compared.append(item_id)
            continue
        if prev["outcome"] != item["outcome"]:
            reason = _short(item.get("reason", "").splitlines()[0]) if item.get("reason") else ""
            change = Change(item_id, item["title"], prev["outcome"], item["outcome"], reason)
            getattr(result, classify(prev["outcome"], item["outcome"])).append(change)
            continue
        was, now = _evidence(prev), _evidence(item)
        moved = [f"{k}: {_short(was.get(k, 'absent'), 40)} -> {_short(now.get(k, 'absent'), 40)}"
                 for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]
        if moved:
            result.evidence.append(Change(item_id, item["title"], prev["outcome"], item["outcome"], "; ".join(moved)))
    return result


def since_previous(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, str], str]:
    """What the reports show under each changed item (item id -> text), and their one-line title."""
    d = diff_records(old, new)
    since: dict[str, str] = {}
    for kind, changes in (("regressed", d.regressed), ("fixed", d.fixed), ("changed", d.changed)):
        since.update({c.item: f"{kind}: {c.old} -> {c.new}" for c in changes})
    since.update({c.item: f"evidence changed: {c.detail}" for c in d.evidence})
    counts = ", ".join(f"{n} {what}" for what, n in (("regressed", len(d.regressed)), ("fixed", len(d.fixed)),
                                                      ("changed", len(d.changed)), ("with changed evidence",
                                                                                    len(d.evidence))) if n)
    return since, f"compared with {d.old_name}: {counts or 'no change'}"


def render_diff(d: Diff) -> str:
    out = [f"apexready diff: {d.old_name} -> {d.new_name}"]
    for title, changes in (("regressed", d.regressed), ("fixed", d.fixed), ("changed", d.changed),
                           ("changed evidence", d.evidence)):
        out.append(f"{title}: {len(changes)}")
        out += [f"  {c.line()}" for c in changes]
    if d.not_compared:
        out.append(f"not compared (not run on one side): {', '.join(d.not_compared)}")
    out.append("REGRESSED" if d.regressed else "no regression")
    return "\n".join(out) + "\n"


def item_history(store: st.Store, env: str, item: str | None = None) -> list[dict[str, Any]]:
    """One row per stored run, oldest first: the item's outcome, or the run's counts when no item is given."""
    rows = []
    for rid, record in st.iter_records(store, env):
        row: dict[str, Any] = {"run": rid, "started": record["run"]["started"]}
        if item is not None:
            found = items_of(record).get(item)
            if found is None:
                raise ValueError(f"item {item!r} is not in run {env}/{rid}; ids look like 2.1.3")
            row.update(outcome=found["outcome"], reason=found.get("reason", ""))
        else:
            row.update(outcomes={k: v for k, v in record["summary"]["outcomes"].items() if v},
                       ready=record["summary"]["sections_ready"])
        rows.append(row)
    return rows


# -- command line -------------------------------------------------------------------------------------------
def cmd_diff(args: argparse.Namespace) -> int:
    d = diff_records(load_any(Path(args.old)), load_any(Path(args.new)))
    sys.stdout.write(render_diff(d))
    return d.exit_status


def cmd_history(args: argparse.Namespace) -> int:
    store = st.open_store(args.store, Path.cwd())
    rows = item_history(store, args.env, args.item)
    if not rows:
        print(f"no runs of environment {args.env!r} in {store.url}")
        return 1
    latest = st.latest(store, args.env)
    for row in rows:
        mark = " (latest)" if row["run"] == latest else ""
        if args.item:
            reason = f": {_short(row['reason'].splitlines()[0], 100)}" if row["reason"] else ""
            print(f"{row['started']}  {row['run']}{mark}  {args.item} {row['outcome']}{reason}")
        else:
            counts = ", ".join(f"{k} {v}" for k, v in row["outcomes"].items())
            print(f"{row['started']}  {row['run']}{mark}  {counts}; sections ready {row['ready']}")
    return 0


def add_cli(sub: Any) -> None:
    d = sub.add_parser("diff", help="compare two records: regressed, fixed, changed evidence (exit 1 on a regression)")
    d.add_argument("old", metavar="OLD", help="report directory, checklist.json or checklist.signed.json")
    d.add_argument("new", metavar="NEW")
    d.set_defaults(func=cmd_diff)
    h = sub.add_parser("history", help="outcomes over the runs kept in a store")
    h.add_argument("--store", required=True, help="s3://bucket/prefix or a directory (as given to --apex-store)")
    h.add_argument("--env", required=True, metavar="NAME")
    h.add_argument("--item", metavar="ID", help="one item's outcome per run (default: the counts per run)")
    h.set_defaults(func=cmd_history)
