"""From pytest's phase reports to checklist outcomes: one phase, then one test instance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from . import outcomes as oc
from ._collect import AttestedInstead, AwaitingAttestation, NotAutomated
from .outcomes import Outcome
from .phases import NotYetDue

__all__ = ["Phase", "classify", "instance_outcome"]


@dataclass(frozen=True, slots=True)
class Phase:
    """The checklist reading of one phase (setup, call or teardown) of one test."""

    outcome: Outcome
    reason: str = ""
    findings: tuple[oc.Finding, ...] = ()
    #: how to fix it, for the terminal (awaiting attestation)
    hint: str | None = None
    unavailable: bool = False


def classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> Phase:
    exc = call.excinfo.value if call.excinfo is not None else None
    if report.when == "setup":
        if report.passed:
            return Phase(oc.PASSED)
        if report.skipped:
            return _skipped(exc, report)
        if isinstance(exc, AwaitingAttestation):  # a part vouched for instead of checked (attest_when_absent)
            return Phase(oc.AWAITING, str(exc), hint=exc.hint)
        return Phase(oc.ERROR, _reason(exc, report), unavailable=isinstance(exc, oc.TargetUnavailable))
    if report.when == "call":
        if report.passed:
            return Phase(oc.ATTESTED if report.keywords.get("attestation") else oc.PASSED)
        if report.skipped:
            return _skipped(exc, report)
        if isinstance(exc, oc.TargetUnavailable):
            return Phase(oc.ERROR, str(exc), unavailable=True)
        if isinstance(exc, AwaitingAttestation):
            return Phase(oc.AWAITING, str(exc), hint=exc.hint)
        findings = exc.findings if isinstance(exc, oc.CheckFailed) else ()
        return Phase(oc.FAILED, _reason(exc, report), findings=findings)
    if report.failed:
        return Phase(oc.ERROR, "teardown failed: " + _reason(exc, report))
    return Phase(oc.PASSED)


def instance_outcome(phases: Mapping[str, str]) -> Outcome:
    """One test's outcome from the outcomes of its phases (the values ``checklist.json`` holds)."""
    setup, call, teardown = (Outcome.parse(phases[w]) if w in phases else None for w in ("setup", "call", "teardown"))
    if setup is not None and setup is not oc.PASSED:
        return setup
    result = call or setup or oc.NOT_RUN
    if teardown is not None and teardown is not oc.PASSED and result in (oc.PASSED, oc.ATTESTED):
        return teardown
    return result


#: the start of the reason of a skip nobody declared: an error, never "not applicable"
UNDECLARED_SKIP = "skipped without a declared reason: "


def _skipped(exc: BaseException | None, report: pytest.TestReport) -> Phase:
    if isinstance(exc, oc.NotApplicable):
        if not exc.key:
            return Phase(oc.ERROR, f"{UNDECLARED_SKIP}not_applicable({exc.reason!r}) names no profile key "
                                   "(not_applicable(reason, key=\"expectations....\"))")
        return Phase(oc.NOT_APPLICABLE, exc.reason)
    if isinstance(exc, AttestedInstead):
        return Phase(oc.ATTESTED, "")
    if isinstance(exc, NotAutomated):
        return Phase(oc.NOT_AUTOMATED, f"not yet automated: {exc.reason}")
    if isinstance(exc, NotYetDue):  # the go-live clock (phases.py)
        return Phase(oc.NOT_YET_DUE, exc.reason)
    msg = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(exc or "")
    msg = msg.split("Skipped: ", 1)[-1]
    if msg.startswith("not yet automated"):
        return Phase(oc.NOT_AUTOMATED, msg)
    # pytest.skip, importorskip, a skip marker, a driver that skips: nothing the profile declared
    return Phase(oc.ERROR, UNDECLARED_SKIP + msg)


def _reason(exc: BaseException | None, report: pytest.TestReport) -> str:
    if exc is None:
        return str(report.longrepr or "")[-500:]
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, (AssertionError, oc.TargetUnavailable, pytest.fail.Exception)):
        return "\n".join(line for line in text.splitlines() if line.strip())[:2000]
    return f"{type(exc).__name__}: {text}"[:2000]
