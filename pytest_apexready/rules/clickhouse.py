"""ClickHouse rules: reading table engines, TTL clauses and materialized-view targets from ``system.tables``."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["DAYS_PER", "delete_ttl", "interval_days", "is_mergetree", "is_replicated",
           "months_ago_sql", "mv_target", "split_top", "ttl_clause", "unqualify"]

DAYS_PER = {"SECOND": 1 / 86400, "MINUTE": 1 / 1440, "HOUR": 1 / 24, "DAY": 1, "WEEK": 7,
            "MONTH": 365.2425 / 12, "QUARTER": 365.2425 / 4, "YEAR": 365.2425}
_INTERVAL_RE = re.compile(r"toInterval(Second|Minute|Hour|Day|Week|Month|Quarter|Year)\(\s*(\d+)\s*\)"
                          r"|INTERVAL\s+'?(\d+)'?\s+(SECOND|MINUTE|HOUR|DAY|WEEK|MONTH|QUARTER|YEAR)S?\b", re.I)


def is_mergetree(table: dict[str, Any]) -> bool:
    return str(table["engine"]).endswith("MergeTree")


def is_replicated(engine: str) -> bool:
    return engine.startswith(("Replicated", "Shared")) and engine.endswith("MergeTree")


def split_top(text: str) -> list[str]:
    """Split at the commas that are not inside parentheses or quotes."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def ttl_clause(engine_full: str) -> str:
    """The table-level TTL clause of ``system.tables.engine_full`` ('' if none)."""
    m = re.search(r"\sTTL\s+(.+?)(?:\sSETTINGS\s|\sCOMMENT\s|$)", engine_full or "", re.S)
    return m.group(1).strip() if m else ""


def interval_days(expr: str) -> float | None:
    """Total interval added in a TTL expression, in days (None if it has none)."""
    total, found = 0.0, False
    for m in _INTERVAL_RE.finditer(expr):
        unit, n = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        total += int(n) * DAYS_PER[unit.upper()]
        found = True
    return total if found else None


def delete_ttl(engine_full: str) -> dict[str, Any] | None:
    """The unconditional DELETE rule of a table's TTL with the shortest interval, or None.

    Rules moving data (TO DISK/VOLUME), recompressing, rolling up (GROUP BY) or deleting
    only some rows (WHERE) do not bound retention."""
    best: dict[str, Any] | None = None
    for rule in split_top(ttl_clause(engine_full)):
        upper = f" {rule.upper()} "
        if any(k in upper for k in (" TO DISK ", " TO VOLUME ", " RECOMPRESS ", " GROUP BY ", " WHERE ")):
            continue
        days = interval_days(rule)
        if days is None:
            continue
        if best is None or days < best["days"]:
            best = {"rule": rule, "days": days, "months": round(days / DAYS_PER["MONTH"], 2)}
    return best


def unqualify(name: str) -> tuple[str | None, str]:
    """``db.table`` (quoted or not) -> (db, table); (None, table) without a database."""
    parts = [p.strip("`\"") for p in re.findall(r"`[^`]*`|\"[^\"]*\"|[^.]+", name)]
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[-1])


def mv_target(view: dict[str, Any], tables: list[dict[str, Any]]) -> tuple[str | None, str]:
    """(database or None for the current one, table) a materialized view writes to."""
    m = re.match(r"CREATE MATERIALIZED VIEW\s+(?:IF NOT EXISTS\s+)?(?:`[^`]*`|\S)+\s+(?:ON CLUSTER\s+\S+\s+)?"
                 r"(?:REFRESH\s.*?\s)?TO\s+((?:`[^`]*`|[\w.])+)", view["create_table_query"] or "", re.S)
    if m:
        db, table = unqualify(m.group(1))
        return (None if db in (None, view["database"]) else db), table
    names = {t["name"] for t in tables}
    for inner in (f".inner_id.{view['uuid']}", f".inner.{view['name']}"):
        if inner in names:
            return None, inner
    return None, f".inner.{view['name']}"


def months_ago_sql(days: float, grace_days: float) -> str:
    """SQL for the oldest monthly partition (YYYYMM) a TTL of ``days`` keeps, ``grace_days`` of TTL merges included.

    TTL merges are not instant (merge_with_ttl_timeout), so an expired part may outlive its TTL by the
    profile's ``ttl_grace_days``."""
    return f"toYYYYMM(now() - toIntervalSecond({int((days + grace_days) * 86400)}))"
