"""Waivers and attestations: human decisions recorded next to the profiles.

``waivers/<env>.toml``::

    [[waiver]]
    item = "2.3.4"
    justification = "maxclients capped by the managed service; ticket OPS-123"
    approved_by = "Dana Lee (Database Admin)"
    expires = 2026-12-31

``attestations/<env>.toml``::

    [[attestation]]
    item = "9.3.1"
    attested_by = "Sam Ortiz (Legal)"
    date = 2026-11-20
    evidence = "https://wiki.example.com/legal/tos-review-2026"
    expires = 2027-05-20

A malformed or expired record is reported as a problem and never hides a result.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .catalog import Catalog

__all__ = ["Attestation", "Records", "Waiver", "load_records"]


@dataclass(frozen=True)
class Waiver:
    item: str
    justification: str
    approved_by: str
    expires: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Attestation:
    item: str
    attested_by: str
    date: str
    evidence: str
    expires: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Records:
    waivers: dict[str, Waiver]
    attestations: dict[str, Attestation]
    #: problems found while reading, each {"file", "key", "message"}
    problems: list[dict[str, str]]
    #: expired records, kept so the report can say why they did not count
    expired: dict[str, dict[str, Any]]


_WAIVER_KEYS = {"item": str, "justification": str, "approved_by": str, "expires": dt.date}
_ATTEST_KEYS = {"item": str, "attested_by": str, "date": dt.date, "evidence": str, "expires": dt.date}


def _read(path: Path, table: str, keys: dict[str, type], catalog: Catalog, today: dt.date,
          show: str, problems: list[dict[str, str]], expired: dict[str, dict[str, Any]],
          want_kind: str | None) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        problems.append({"file": show, "key": "", "message": f"not valid TOML ({exc}); none of its records count. "
                         "Fix the syntax at the position given."})
        return {}
    found: dict[str, dict[str, Any]] = {}
    for key in data:
        if key != table:
            problems.append({"file": show, "key": key,
                             "message": f"unknown key {key!r}; records are [[{table}]] tables"})
    entries = data.get(table, [])
    if not isinstance(entries, list):
        problems.append({"file": show, "key": table, "message": f"write records as [[{table}]] tables"})
        return {}
    for n, entry in enumerate(entries, 1):
        where = f"[[{table}]] #{n}"
        if not isinstance(entry, dict):
            problems.append({"file": show, "key": where, "message": "must be a table"})
            continue
        bad = []
        for k, typ in keys.items():
            if k not in entry:
                bad.append(f"missing {k!r}")
            elif not isinstance(entry[k], typ) or (typ is str and not entry[k].strip()):
                bad.append(f"{k!r} must be {'a date like 2026-12-31' if typ is dt.date else 'a non-empty string'}")
        bad += [f"unknown key {k!r}" for k in entry if k not in keys]
        item_id: str = entry["item"] if isinstance(entry.get("item"), str) else ""
        label = f"{where} (item {item_id})" if item_id else where
        base_id, _, part_name = item_id.partition("[")  # "2.1.6[retention]": an attestation part (catalog.toml)
        item = catalog.get(base_id) if item_id else None
        part = item.part(part_name.rstrip("]")) if item is not None and part_name else None
        if item_id and item is None:
            bad.append(f"item {item_id!r} is not in the catalog")
        elif part_name and (table != "attestation" or part is None
                            or not (part.attestation or part.attest_when_absent)):
            bad.append(f"{item_id!r} is not an attestation part of item {base_id} in the catalog")
        elif item is not None and want_kind and item.kind != want_kind and not part:
            bad.append(f"item {item_id} is {item.kind}, not {want_kind}: a check decides it")
        if bad:
            problems.append({"file": show, "key": label, "message": "; ".join(bad) + "; this record does not count"})
            continue
        record = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in entry.items()}
        if entry["expires"] < today:
            problems.append({"file": show, "key": label,
                             "message": f"expired on {record['expires']}; renew it or remove it"})
            expired[item_id] = {"kind": table, **record}
            continue
        if item_id in found:
            problems.append({"file": show, "key": label,
                             "message": f"a second record for item {item_id}; the first one counts"})
            continue
        found[item_id] = record
    return found


def load_records(env: str, waivers_dir: Path, attestations_dir: Path, catalog: Catalog,
                 rootdir: Path, today: dt.date | None = None) -> Records:
    today = today or dt.date.today()
    problems: list[dict[str, str]] = []
    expired: dict[str, dict[str, Any]] = {}

    def show(p: Path) -> str:
        try:
            return str(p.relative_to(rootdir))
        except ValueError:
            return str(p)

    wpath, apath = waivers_dir / f"{env}.toml", attestations_dir / f"{env}.toml"
    waivers = {k: Waiver(**v) for k, v in _read(wpath, "waiver", _WAIVER_KEYS, catalog, today, show(wpath),
                                                 problems, expired, None).items()}
    attestations = {k: Attestation(**v) for k, v in _read(apath, "attestation", _ATTEST_KEYS, catalog, today,
                                                          show(apath), problems, expired, "attestation").items()}
    return Records(waivers, attestations, problems, expired)
