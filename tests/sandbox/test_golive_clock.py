"""Go-live on a clock against the sandbox, with the real check suites (issue 12, "Done when"):
``go_live`` an hour ahead leaves the T+1h and T+24h items not yet due and ``apexready schedule`` prints their
times; ``go_live`` a day behind has them checked."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from checkrun import ROOT, run_checks

T_PLUS = ["10.3.1", "10.3.2", "10.3.3", "10.3.4", "10.4.1", "10.4.2", "10.4.3", "10.4.4", "10.4.5"]


def _profile(hours: float) -> tuple[str, dt.datetime]:
    go_live = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).replace(microsecond=0)
    return f'extends = "local"\ngo_live = "{go_live.isoformat()}"\n', go_live


def test_an_hour_before_go_live_t_plus_items_are_not_yet_due(tmp_path):
    text, go_live = _profile(1)
    run = run_checks(tmp_path, "golive", text)
    assert {i: run.outcome(i) for i in T_PLUS} == dict.fromkeys(T_PLUS, "not_yet_due"), run.output[-3000:]
    assert "phase T+24h opens at" in run.reason("10.4.1")
    assert run.outcome("10.1.3") != "not_yet_due"  # T-24h opened 23 hours ago
    cmd = [sys.executable, "-m", "pytest_apexready", "schedule", "--env", str(tmp_path / "profile.toml")]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    for hours in (1, 24):
        utc = (go_live + dt.timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M UTC")
        assert f"({utc})" in out, out


def test_a_day_after_go_live_they_are_checked(tmp_path):
    text, _ = _profile(-25)
    run = run_checks(tmp_path, "golive", text)
    got = {i: run.outcome(i) for i in T_PLUS}
    assert "not_yet_due" not in got.values(), got
    assert got["10.3.3"] in ("passed", "failed") and got["10.4.1"] in ("passed", "failed"), run.output[-3000:]
