"""Go-live on a clock: the phases of sections 10 and 11, when each is due, and ``apexready schedule``.

The profile names the go-live time (``go_live = 2026-05-01T12:00:00Z``, RFC 3339); every item of
sections 10 and 11 names its phase in the catalog (``due = "T+1h"``). An item checked before its phase
opens is *not yet due*: it blocks sign-off like any unticked box, and says when it opens. Without
``go_live`` in the profile every item is due (the run is a snapshot, as before).

Phases repeat where the checklist says so: ``daily`` on days 1-7 after go-live, ``weekly`` on days
7, 14, 21 and 28. Cron cannot say "the first week only", so the schedules list the days and months
explicitly; a day that also matches outside the window (say the 3rd of the month before go-live) runs
the phase early, and those items are then reported not yet due: harmless.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "PHASES",
    "NotYetDue",
    "Phase",
    "add_cli",
    "cron_schedule",
    "cronjob_patches",
    "crontab_lines",
    "occurrences",
    "opens_at",
    "parse_go_live",
    "phase",
    "schedule_lines",
]

_H = dt.timedelta(hours=1)
_D = dt.timedelta(days=1)


@dataclass(frozen=True)
class Phase:
    name: str          # as written in the catalog and given to --apex-phase
    marker: str        # the pytest marker (-m t_plus_1h)
    offset: dt.timedelta
    repeat: dt.timedelta | None = None
    times: int = 1     # how many runs, ``repeat`` apart
    doc: str = ""

    @property
    def cronjob(self) -> str:
        return "apexready-" + self.marker.replace("_", "-")


#: the checklist's clock, in the order of the document
PHASES: tuple[Phase, ...] = (
    Phase("T-24h", "t_minus_24h", -24 * _H, doc="Pre-Launch (T-24 hours), section 10.1"),
    Phase("T-0", "t_0", 0 * _H, doc="Launch (T-0), section 10.2"),
    Phase("T+1h", "t_plus_1h", _H, doc="Post-Launch (T+1 hour), section 10.3"),
    Phase("T+24h", "t_plus_24h", 24 * _H, doc="Post-Launch (T+24 hours), section 10.4"),
    Phase("Hour 1", "hour_1", _H, doc="First 24 hours: hour 1"),
    Phase("Hour 6", "hour_6", 6 * _H, doc="First 24 hours: hour 6"),
    Phase("Hour 12", "hour_12", 12 * _H, doc="First 24 hours: hour 12"),
    Phase("Hour 24", "hour_24", 24 * _H, doc="First 24 hours: hour 24"),
    Phase("daily", "daily", _D, repeat=_D, times=7, doc="First week: daily, days 1 to 7"),
    Phase("weekly", "weekly", 7 * _D, repeat=7 * _D, times=4, doc="First month: weekly, days 7 to 28"),
)
_BY_KEY = {k: p for p in PHASES for k in (p.name.lower(), p.marker)}


class NotYetDue(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """Raised at set-up of an item whose phase has not opened; the plugin reports it as not yet due."""

    def __init__(self, reason: str):
        super().__init__(f"not yet due: {reason}", allow_module_level=False)
        self.reason = reason


def phase(name: str) -> Phase:
    """The phase named ``T+1h`` / ``t_plus_1h`` / ``hour 6``; a clear error for anything else."""
    found = _BY_KEY.get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown phase {name!r}; phases are {', '.join(p.name for p in PHASES)}")
    return found


def parse_go_live(value: Any, where: str) -> dt.datetime:
    """An RFC 3339 time with its offset (a TOML offset date-time or a string)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"{where}, key 'go_live': {value!r} is not an RFC 3339 time. "
                             "Fix: write it like go_live = 2026-05-01T12:00:00Z") from None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{where}, key 'go_live': {value!r} has no UTC offset. "
                         "Fix: write it like go_live = 2026-05-01T12:00:00Z or 2026-05-01T14:00:00+02:00")
    return value


def occurrences(p: Phase, go_live: dt.datetime) -> list[dt.datetime]:
    first = go_live + p.offset
    return [first + n * (p.repeat or dt.timedelta(0)) for n in range(p.times)]


def opens_at(p: Phase, go_live: dt.datetime) -> dt.datetime:
    return go_live + p.offset


def not_yet_due_reason(p: Phase, go_live: dt.datetime, now: dt.datetime) -> str | None:
    """Why an item of phase ``p`` is not yet due at ``now``, or None when it is due."""
    opens = opens_at(p, go_live)
    if now >= opens:
        return None
    wait = opens - now
    hours, rest = divmod(int(wait.total_seconds()), 3600)
    return (f"phase {p.name} opens at {opens.astimezone(dt.UTC).isoformat(timespec='minutes')} "
            f"(go-live {go_live.astimezone(dt.UTC).isoformat(timespec='minutes')} {_offset(p)}), in {hours} h "
            f"{rest // 60} min; checked at {now.astimezone(dt.UTC).isoformat(timespec='seconds')}")


def _offset(p: Phase) -> str:
    hours = int(p.offset.total_seconds() // 3600)
    return f"{'+' if hours >= 0 else '-'} {abs(hours)} h"


def cron_schedule(p: Phase, go_live: dt.datetime) -> str:
    """``minute hour days months *`` in UTC covering every occurrence of the phase."""
    times = [t.astimezone(dt.UTC) for t in occurrences(p, go_live)]
    days = sorted({t.day for t in times}, key=[t.day for t in times].index)
    months = sorted({t.month for t in times})
    first = times[0]
    return f"{first.minute} {first.hour} {','.join(map(str, days))} {','.join(map(str, months))} *"


def schedule_lines(go_live: dt.datetime, env: str) -> list[str]:
    out = [f"go-live of {env}: {go_live.astimezone().isoformat(timespec='minutes')} local, "
           f"{go_live.astimezone(dt.UTC).isoformat(timespec='minutes')} UTC"]
    for p in PHASES:
        times = occurrences(p, go_live)
        when = "; ".join(f"{t.astimezone().strftime('%Y-%m-%d %H:%M %Z')} "
                         f"({t.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')})" for t in times)
        out.append(f"{p.name:<7} {p.doc}: {when}")
    return out


def crontab_lines(go_live: dt.datetime, env: str, command: str = "cd /srv/apexready && pytest") -> list[str]:
    lines = ["# apexready phases of " + env + " (times in UTC); generated by apexready schedule --crontab",
             "CRON_TZ=UTC"]
    for p in PHASES:
        lines.append(f"{cron_schedule(p, go_live)} {command} --env={env} -m {p.marker}  # {p.name}")
    return lines


def cronjob_patches(go_live: dt.datetime, namespace: str = "apexready") -> dict[str, Any]:
    """A v1 List of partial CronJobs (name, schedule, timeZone) for ``kubectl apply --server-side``."""
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": p.cronjob, "namespace": namespace},
         "spec": {"schedule": cron_schedule(p, go_live), "timeZone": "Etc/UTC"}} for p in PHASES]}


def go_live_of(env: str, env_dir: Path, rootdir: Path) -> tuple[dt.datetime, str]:
    """The profile's go_live (following ``extends``), read without resolving its secrets: scheduling needs none."""
    path = Path(env) if env.endswith(".toml") else env_dir / f"{env}.toml"
    path = path if path.is_absolute() else rootdir / path
    seen: list[Path] = []
    while True:
        if path in seen or not path.is_file():
            raise ValueError(f"environment profile {path}: no such file (or an extends cycle); "
                             f"profiles live in {env_dir}/")
        seen.append(path)
        data = tomllib.loads(path.read_text("utf-8"))
        if "go_live" in data:
            return parse_go_live(data["go_live"], f"environment profile {path}"), str(path)
        if "extends" not in data:
            raise ValueError(f"environment profile {seen[0]}: no go_live. Fix: add go_live = 2026-05-01T12:00:00Z")
        path = env_dir / f"{data['extends']}.toml" if not str(data["extends"]).endswith(".toml") \
            else rootdir / str(data["extends"])
        path = path if path.is_absolute() else rootdir / path


def due_items(catalog_items: Iterable[Any], p: Phase) -> list[str]:
    return [i.id for i in catalog_items if getattr(i, "due", None) == p.name]


def cmd_schedule(args: argparse.Namespace) -> int:
    go_live, _ = go_live_of(args.env, Path(args.environments), Path.cwd())
    if args.crontab:
        print("\n".join(crontab_lines(go_live, args.env, args.cron_command)))
    elif args.cronjobs:
        print(json.dumps(cronjob_patches(go_live, args.namespace), indent=2))
    else:
        from .catalog import load_catalog

        items = load_catalog().items
        for line, p in zip(schedule_lines(go_live, args.env), (None, *PHASES), strict=True):
            print(line + (f"\n        items: {', '.join(due_items(items, p))}" if p is not None else ""))
    return 0


def add_cli(sub: Any) -> None:
    s = sub.add_parser("schedule", help="when each go-live phase is due (local time and UTC); crontab or CronJobs")
    s.add_argument("--env", required=True, metavar="NAME", help="environment profile with go_live")
    s.add_argument("--environments", default="environments", metavar="DIR", help="profiles directory")
    out = s.add_mutually_exclusive_group()
    out.add_argument("--crontab", action="store_true", help="print crontab lines that run each phase at its time")
    out.add_argument("--cronjobs", action="store_true",
                     help="print the CronJob schedules (a List for kubectl apply --server-side) for deploy/")
    s.add_argument("--command", dest="cron_command", default="cd /srv/apexready && pytest",
                   help="command of the crontab lines")
    s.add_argument("--namespace", default="apexready", help="namespace of the deploy/ CronJobs")
    s.set_defaults(func=cmd_schedule)
