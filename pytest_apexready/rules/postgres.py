"""PostgreSQL rules: memory settings against the RAM, WAL archiving, autovacuum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..outcomes import Finding

__all__ = ["GIB", "MIB", "archiving_findings", "autovacuum_findings", "memory_findings",
           "ratio_finding", "size"]

GIB = 1024**3
MIB = 1024**2

#: archive_command values that archive nothing
NO_ARCHIVE = ("", "(disabled)", "/bin/true", "true", ":")


def size(n: int) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def ratio_finding(name: str, observed: int, ram: int, target: float, low: float, high: float,
                  where: str) -> Finding | None:
    """``name`` should be about ``target`` of the RAM (accepted ``low``..``high``)."""
    ratio = observed / ram
    if low <= ratio <= high:
        return None
    return Finding(name, f"{size(observed)} ({ratio:.0%} of {size(ram)} RAM)",
                   f"~{target:.0%} of RAM ({low:.0%}-{high:.0%})", where)


def memory_findings(values: Mapping[str, int], ram: int, where: str) -> list[Finding]:
    """2.1.7: shared_buffers ~25%, effective_cache_size ~75% of RAM, work_mem 4-16 MB, maintenance_work_mem 256 MB+."""
    found = [f for f in (
        ratio_finding("shared_buffers", values["shared_buffers"], ram, 0.25, 0.20, 0.30, where),
        ratio_finding("effective_cache_size", values["effective_cache_size"], ram, 0.75, 0.65, 0.85, where),
    ) if f]
    if not 4 * MIB <= values["work_mem"] <= 16 * MIB:
        found.append(Finding("work_mem", size(values["work_mem"]), "4MB-16MB", where))
    if values["maintenance_work_mem"] < 256 * MIB:
        found.append(Finding("maintenance_work_mem", size(values["maintenance_work_mem"]), "256MB+", where))
    return found


def archiving_findings(settings: Mapping[str, str], archiver: Mapping[str, Any], where: str) -> list[Finding]:
    """2.1.6: continuous WAL archiving is configured and succeeding."""
    found = []
    if settings["wal_level"] not in ("replica", "logical"):
        found.append(Finding("wal_level", settings["wal_level"], "replica or logical", where))
    if settings["archive_mode"] not in ("on", "always"):
        found.append(Finding("archive_mode", settings["archive_mode"], "on or always", where))
    if settings["archive_command"] in NO_ARCHIVE:
        found.append(Finding("archive_command", repr(settings["archive_command"]), "a command that archives WAL",
                             where))
    if archiver["archived_count"] == 0:
        found.append(Finding("WAL archiving", "no WAL segment archived yet", "segments archived", where))
    if archiver["last_failed_time"] and (not archiver["last_archived_time"]
                                         or archiver["last_failed_time"] > archiver["last_archived_time"]):
        found.append(Finding("WAL archiving", f"last archive attempt failed at {archiver['last_failed_time']}",
                             "the last attempt succeeded", where))
    return found


def autovacuum_findings(settings: Mapping[str, str], disabled: list[str], where: str,
                        limits: Mapping[str, float]) -> list[Finding]:
    """6.1.3: autovacuum on, thresholds at most ``limits`` (expectations.autovacuum_max), enabled on every table."""
    found = []
    if settings.get("autovacuum") != "on":
        found.append(Finding("autovacuum", settings.get("autovacuum"), "on", where))
    for name, limit in limits.items():
        if float(settings.get(name, "inf")) > limit:
            found.append(Finding(name, settings.get(name), f"<= {limit}", where))
    if disabled:
        found.append(Finding("tables with autovacuum_enabled=false", disabled, "none", where))
    return found
