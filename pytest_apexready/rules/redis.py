"""Redis rules: version, RDB save rules, maxmemory against the instance RAM, cache TTLs."""

from __future__ import annotations

import re
from typing import Any

from ..outcomes import Finding

__all__ = ["GIB", "maxmemory_finding", "redis_major",
           "save_rules", "ttl_findings", "version_finding"]

GIB = 1024 ** 3


def redis_major(version: Any) -> int:
    """Major version from INFO server redis_version ('7.0.15'; redis-py may hand back 7.2 or 8)."""
    m = re.match(r"\s*(\d+)", str(version))
    if m is None:
        raise ValueError(f"cannot read a major version from redis_version {version!r}")
    return int(m.group(1))


def version_finding(version: Any, minimum: int, where: str) -> Finding | None:
    try:
        major = redis_major(version)
    except ValueError as exc:
        return Finding("Redis version", f"{version!r} ({exc})", f"{minimum}+", where)
    if major < minimum:
        return Finding("Redis version", f"{version} (major {major})", f"{minimum}+", where)
    return None


def save_rules(save: str | None) -> list[tuple[int, int]]:
    """``save "3600 1 300 100"`` -> [(3600, 1), (300, 100)]; empty means RDB snapshots are off."""
    nums = (save or "").replace('"', "").split()
    if len(nums) % 2:
        raise ValueError(f"odd number of values in save {save!r}")
    return [(int(nums[i]), int(nums[i + 1])) for i in range(0, len(nums), 2)]


def maxmemory_finding(maxmemory: int, ram_gib: float, where: str, ratio: float, tolerance: float) -> Finding | None:
    """2.3.3: maxmemory is ``ratio`` of the RAM, give or take ``tolerance`` of the RAM (the profile's numbers)."""
    ram = ram_gib * GIB
    want = ratio * ram
    lo, hi = want - tolerance * ram, want + tolerance * ram
    expected = (f"{ratio:.0%} of {ram_gib:g} GiB = {int(want)} bytes "
                f"(accepted {int(lo)}..{int(hi)}, i.e. {ratio - tolerance:.0%}..{ratio + tolerance:.0%} of RAM)")
    if maxmemory == 0:
        return Finding("maxmemory", "0 (unlimited: Redis grows until the OS kills it)", expected, where)
    if not lo <= maxmemory <= hi:
        return Finding("maxmemory", f"{maxmemory} bytes ({maxmemory / ram:.1%} of RAM)", expected, where)
    return None


def ttl_findings(pattern: str, ttls: dict[str, int], limit: int, where: str) -> list[Finding]:
    """``ttls``: key -> TTL as returned by TTL (-1 no expiry, -2 gone since SCAN).

    A pattern without keys is no failure by itself: a key without TTL never goes away, so the
    failure this item guards against is always visible while it exists; short-lived keys
    (dashboard metrics, 5 min) are simply absent on an idle instance. The check fails only when
    no pattern has any key (nothing was verified: empty cache or wrong patterns)."""
    expected = f"every key with a TTL of 1..{limit} s"
    live = {k: t for k, t in ttls.items() if t != -2}
    out: list[Finding] = []
    forever = sorted(k for k, t in live.items() if t == -1)
    too_long = sorted((k for k, t in live.items() if t > limit), key=lambda k: -live[k])
    if forever:
        out.append(Finding(f"cache TTLs of {pattern}",
                           f"{len(forever)} of {len(live)} keys never expire (TTL -1), e.g. " + ", ".join(forever[:3]),
                           expected, where))
    if too_long:
        out.append(Finding(f"cache TTLs of {pattern}",
                           f"{len(too_long)} of {len(live)} keys expire later than {limit} s, e.g. "
                           + ", ".join(f"{k} TTL {live[k]}" for k in too_long[:3]),
                           expected, where))
    return out
