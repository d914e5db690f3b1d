"""Probe the targets a run needs, all at once, before the first check runs.

Each client remembers its first failure, so a dead target costs one timeout for all its items;
probed one after the other, seven dead targets would still cost seven timeouts. Probed
concurrently here (connect, authenticate, one cheap read: :meth:`Target.probe`), all of them cost
about one: the largest connect timeout. The checks of a dead target then fail at once with the
reason the probe remembered.

The plugin calls :func:`probe_session` from ``pytest_runtestloop`` in every process that runs
tests (under xdist, each worker probes the targets its collected items ask for; the controller
runs none and probes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Protocol

from ..outcomes import TargetUnavailable
from .base import Target, describe_error
from .registry import TARGETS, TargetKind

if TYPE_CHECKING:
    import pytest

    from ..profile import Profile

__all__ = ["GRACE", "needed_kinds", "probe_all", "probe_needed", "probe_session"]

#: seconds probe_all waits beyond the largest probe budget before it gives a target up
GRACE = 1.0


class SessionLike(Protocol):
    """What :func:`probe_needed` uses of the plugin's session: the profile and its clients."""

    @property
    def profile(self) -> Profile | None: ...

    def load(self) -> None: ...

    def target(self, name: str) -> Target: ...


def probe_all(targets: Iterable[Target], grace: float = GRACE) -> dict[str, TargetUnavailable | None]:
    """Probe every target concurrently; return each target's failure, or None when it answered.

    The wait is bounded by the largest :attr:`Target.probe_budget` (one connect plus one read
    timeout) plus ``grace``: a target still silent then is given up (its failure is remembered),
    whatever its driver does.
    """
    todo = list(targets)
    if not todo:
        return {}
    deadline = max(t.probe_budget for t in todo) + grace
    pool = ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="apexready-probe")
    try:
        futures = {pool.submit(t.probe): t for t in todo}
        done, _ = wait(futures, timeout=deadline)
        results: dict[str, TargetUnavailable | None] = {}
        for future, target in futures.items():
            if future not in done:
                results[target.name] = target.give_up(deadline)
            elif isinstance(exc := future.exception(), TargetUnavailable):  # a probe() that raises its failure
                results[target.name] = target.remember(exc)
            elif exc is not None:  # Target.probe translates driver errors; a client's own probe may not
                results[target.name] = target.remember(TargetUnavailable(target.name, target.where,
                                                                         describe_error(exc)))
            else:
                results[target.name] = future.result() or target.failure
        return results
    finally:
        # a straggler ends by its own driver timeout; nobody waits for it
        pool.shutdown(wait=False, cancel_futures=True)


def needed_kinds(items: Iterable[pytest.Item]) -> list[TargetKind]:
    """The target kinds whose fixtures the items request (directly or through other fixtures)."""
    wanted = {name for item in items for name in getattr(item, "fixturenames", ())}
    return [k for k in TARGETS if k.fixture in wanted]


def probe_needed(session: SessionLike, items: Sequence[pytest.Item]) -> dict[str, TargetUnavailable | None]:
    """Probe the configured targets the items need, concurrently; return each one's failure or None.

    Left out: targets the profile does not configure or whose component it declares absent, and
    clients that cannot be created (library missing): their fixtures report that themselves.
    """
    kinds = needed_kinds(items)
    if not kinds:
        return {}
    session.load()
    profile = session.profile
    if profile is None:
        return {}
    targets: list[Target] = []
    for kind in kinds:
        if profile.target(kind.name) is None or kind.component in profile.absent:
            continue
        try:
            targets.append(session.target(kind.name))
        except TargetUnavailable:
            continue
    return probe_all(targets)


def probe_session(session: SessionLike, pytest_session: pytest.Session) -> dict[str, TargetUnavailable | None]:
    """:func:`probe_needed` for the items this process is about to run (none under --collect-only)."""
    config = pytest_session.config
    if config.option.collectonly or not pytest_session.items:
        return {}
    if pytest_session.testsfailed and not config.option.continue_on_collection_errors:
        return {}  # collection errors: pytest stops before running anything
    return probe_needed(session, pytest_session.items)
