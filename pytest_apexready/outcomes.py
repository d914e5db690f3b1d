"""Outcomes of checklist items, and the exceptions checks raise to reach them."""

from __future__ import annotations

from typing import Any

import pytest

__all__ = [
    "PASSED", "FAILED", "ERROR", "NOT_APPLICABLE", "WAIVED", "ATTESTED", "AWAITING", "NOT_AUTOMATED",
    "NOT_RUN", "OUTCOMES", "SIGNABLE", "combine", "NotApplicable", "TargetUnavailable", "fail_check",
    "not_applicable",
]

PASSED = "passed"
FAILED = "failed"
ERROR = "error"                    # could not be checked: unreachable, auth refused, timeout
NOT_APPLICABLE = "not_applicable"  # the profile says the component is absent
WAIVED = "waived"                  # failed or error, but a valid waiver covers it
ATTESTED = "attested"              # attestation item with a valid attestation
AWAITING = "awaiting_attestation"  # attestation item without one: blocks sign-off
NOT_AUTOMATED = "not_automated"    # automated item that has no check yet
NOT_RUN = "not_run"                # deselected in this run (-m, -k, --lf)

#: every outcome, in the order summaries show them
OUTCOMES = (PASSED, FAILED, ERROR, NOT_APPLICABLE, WAIVED, ATTESTED, AWAITING, NOT_AUTOMATED, NOT_RUN)
#: outcomes that let a section be signed
SIGNABLE = frozenset({PASSED, WAIVED, ATTESTED, NOT_APPLICABLE})

# when one item has several test instances (parametrized over workloads), the worst wins
_SEVERITY = {FAILED: 0, ERROR: 1, AWAITING: 2, NOT_AUTOMATED: 3, NOT_RUN: 4, WAIVED: 5,
             ATTESTED: 6, PASSED: 7, NOT_APPLICABLE: 8}


def combine(outcomes: list[str]) -> str:
    """The item outcome from its instances: the worst, except that n/a yields to anything run."""
    if not outcomes:
        return NOT_RUN
    return min(outcomes, key=_SEVERITY.__getitem__)


class NotApplicable(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """Raised when the item does not apply to this environment (with the reason)."""

    def __init__(self, reason: str):
        super().__init__(f"not applicable: {reason}", allow_module_level=False)
        self.reason = reason


class TargetUnavailable(Exception):
    """A target could not be reached or refused us: the item could not be checked."""

    def __init__(self, target: str, where: str, reason: str):
        super().__init__(f"could not check: {target} ({where}) {reason}")
        self.target, self.where, self.reason = target, where, reason


def not_applicable(reason: str) -> None:
    raise NotApplicable(reason)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def fail_check(what: str, *, observed: Any, expected: Any, where: str) -> None:
    """Fail the check with a message stating observed, expected, and where it was read."""
    pytest.fail(f"{what}: observed {_show(observed)}; expected {_show(expected)}; read from {where}", pytrace=False)
