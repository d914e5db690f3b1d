"""Outcomes of checklist items, findings, and the exceptions checks raise to reach them.

This module is the one registry of outcomes: every label, short label, terminal letter and
"ticks the box" flag is read from :class:`Outcome`. It imports nothing of the plugin, so
``from pytest_apexready import check, fail_check`` stays light.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

import pytest

__all__ = [
    "ATTESTED",
    "AWAITING",
    "ERROR",
    "FAILED",
    "NOT_APPLICABLE",
    "NOT_AUTOMATED",
    "NOT_RUN",
    "NOT_YET_DUE",
    "OUTCOMES",
    "PASSED",
    "SIGNABLE",
    "WAIVED",
    "CheckFailed",
    "Finding",
    "NotApplicable",
    "Outcome",
    "TargetUnavailable",
    "combine",
    "fail_check",
    "not_applicable",
]


class Outcome(StrEnum):
    """An item's outcome. The value is what ``checklist.json`` holds (schema v1 strings).

    Each member carries: ``label`` (reports), ``short`` (summary columns), ``word`` and ``letter``
    (pytest's terminal: the final line and the progress letters), ``ticks`` (whether it lets a
    section be signed) and ``rank`` (the worst instance or part of an item wins: lowest rank).
    """

    label: str
    short: str
    word: str
    letter: str
    ticks: bool
    rank: int

    def __new__(cls, value: str, label: str, short: str, word: str, letter: str, ticks: bool,
                rank: int) -> Outcome:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label, member.short, member.word, member.letter = label, short, word, letter
        member.ticks, member.rank = ticks, rank
        return member

    #        value                   label                      short       word (terminal)        letter ticks rank
    PASSED = "passed", "passed", "passed", "passed", ".", True, 8
    FAILED = "failed", "FAILED", "failed", "failed", "F", False, 0
    ERROR = "error", "ERROR (could not check)", "error", "error", "E", False, 1
    NOT_APPLICABLE = "not_applicable", "not applicable", "n/a", "not applicable", "n", True, 9
    WAIVED = "waived", "waived", "waived", "waived", "w", True, 6
    ATTESTED = "attested", "attested", "attested", "attested", "a", True, 7
    AWAITING = "awaiting_attestation", "AWAITING ATTESTATION", "awaiting", "awaiting attestation", "A", False, 2
    NOT_AUTOMATED = "not_automated", "not yet automated", "not auto", "not automated", "u", False, 3
    # its go-live phase (phases.py) has not opened yet
    NOT_YET_DUE = "not_yet_due", "not yet due", "not due", "not yet due", "d", False, 4
    NOT_RUN = "not_run", "not run", "not run", "not run", "-", False, 5

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str) -> Outcome:
        """The member for a ``checklist.json`` string; a clear error for anything else."""
        try:
            return cls(value)  # type: ignore[call-arg]  # the lookup by value, not the member constructor
        except ValueError:
            raise ValueError(f"unknown outcome {value!r}; known: {[o.value for o in cls]}") from None


PASSED = Outcome.PASSED
FAILED = Outcome.FAILED
ERROR = Outcome.ERROR
NOT_APPLICABLE = Outcome.NOT_APPLICABLE
WAIVED = Outcome.WAIVED
ATTESTED = Outcome.ATTESTED
AWAITING = Outcome.AWAITING
NOT_AUTOMATED = Outcome.NOT_AUTOMATED
NOT_RUN = Outcome.NOT_RUN
NOT_YET_DUE = Outcome.NOT_YET_DUE

#: every outcome, in the order summaries show them
OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
#: outcomes that let a section be signed
SIGNABLE: frozenset[Outcome] = frozenset(o for o in Outcome if o.ticks)


def combine(outcomes: Iterable[str]) -> Outcome:
    """The item outcome from its instances or parts: the worst; n/a yields to anything that ran."""
    members = [Outcome.parse(o) if not isinstance(o, Outcome) else o for o in outcomes]
    if not members:
        return NOT_RUN
    return min(members, key=lambda o: o.rank)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a check found wrong: what, the observed value, the expected value, where it was read."""

    what: str
    observed: Any
    expected: Any
    where: str

    def line(self) -> str:
        return f"{self.what}: observed {_show(self.observed)}; expected {_show(self.expected)}; read from {self.where}"

    def as_dict(self) -> dict[str, str]:
        return {"what": self.what, "observed": _show(self.observed), "expected": _show(self.expected),
                "where": self.where}


class CheckFailed(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """Raised by :func:`fail_check`; carries the structured findings to the report."""

    # as pytest does for its own outcomes: terminal lines read "CheckFailed: ...", not the module path
    __module__ = "builtins"

    def __init__(self, findings: Sequence[Finding]):
        super().__init__("\n".join(f.line() for f in findings), pytrace=False)
        self.findings = tuple(findings)


class NotApplicable(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """Raised when the item does not apply to this environment (with the reason).

    ``key`` is the profile key that declares it so (``absent.clickhouse``, ``expectations.service_mesh``):
    an item is not applicable only by a declaration in the profile. Without one it is an error
    (``_phases.classify``), because a box ticked by an undeclared skip would be signed unread.
    """

    __module__ = "builtins"

    def __init__(self, reason: str, key: str | None = None, *, show_key: bool = True):
        if key and show_key and key not in reason:
            reason = f"{reason} (profile key {key})"
        super().__init__(f"not applicable: {reason}", allow_module_level=False)
        self.reason, self.key = reason, key


class TargetUnavailable(Exception):
    """A target could not be reached or refused us: the item could not be checked."""

    def __init__(self, target: str, where: str, reason: str):
        super().__init__(f"could not check: {target} ({where}) {reason}")
        self.target, self.where, self.reason = target, where, reason


def not_applicable(reason: str, key: str | None = None) -> NoReturn:
    """The item does not apply here, because the profile key ``key`` (e.g. "expectations.service_mesh") says so.

    ``key`` is required in effect: a not_applicable without it is reported as an error.
    """
    raise NotApplicable(reason, key)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def fail_check(what: str | None = None, *, observed: Any = None, expected: Any = None, where: str | None = None,
               findings: Iterable[Finding] | None = None) -> None:
    """Fail the check, stating observed, expected and where it was read, once per finding.

    ``fail_check("eviction policy", observed=p, expected="allkeys-lru", where=w)`` fails with one finding;
    ``fail_check(findings=[Finding(...), ...])`` fails with all of them, and returns quietly when the list is
    empty, so a check can collect findings and end with one call.
    """
    collected = list(findings or ())
    if what is not None:
        if where is None:
            raise TypeError("fail_check(what, observed=..., expected=..., where=...) needs where")
        collected.insert(0, Finding(what, observed, expected, where))
    if collected:
        raise CheckFailed(collected)
