"""Go-live on a clock (pytest_apexready/phases.py): not yet due, --apex-phase, phase markers, apexready schedule."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pytest_apexready import phases as ph
from pytest_apexready.catalog import load_catalog
from pytest_apexready.cli import main as cli_main

CHECKS = """
from pytest_apexready import check

@check("10.2.3")
def test_health():
    pass

@check("10.3.1")
def test_error_rates():
    pass

@check("10.4.1")
def test_signups():
    pass
"""
T_PLUS_1H = ["10.3.1", "10.3.2", "10.3.3", "10.3.4"]
T_PLUS_24H = ["10.4.1", "10.4.2", "10.4.3", "10.4.4", "10.4.5"]


def _go_live(hours: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).isoformat(timespec="seconds")


def _profile(project, go_live: str | None) -> None:
    line = f'go_live = "{go_live}"\n' if go_live else ""
    project.write("environments/local.toml", f'description = "phases"\n{line}')


def test_every_go_live_item_has_a_known_phase_and_no_other_has_one():
    catalog = load_catalog()
    for item in catalog.items:
        if item.section in (10, 11):
            assert item.due is not None, item.id
            assert ph.phase(item.due).name == item.due
        else:
            assert item.due is None, item.id
    groups = {i.id: i.due for i in catalog.items if i.section in (10, 11)}
    assert {groups[i] for i in T_PLUS_1H} == {"T+1h"} and {groups[i] for i in T_PLUS_24H} == {"T+24h"}
    assert groups["11.1.2"] == "Hour 6" and groups["11.2.1"] == "daily" and groups["11.3.4"] == "weekly"


def test_go_live_an_hour_ahead_makes_t_plus_1h_and_24h_not_yet_due(project):
    _profile(project, _go_live(1))
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest("-m", "golive", "-p", "no:cacheprovider")
    items = project.items()
    assert {i: items[i]["outcome"] for i in T_PLUS_1H + T_PLUS_24H} == dict.fromkeys(T_PLUS_1H + T_PLUS_24H,
                                                                                      "not_yet_due")
    assert items["10.2.3"]["outcome"] == "not_yet_due"  # T-0 is go-live itself
    assert items["10.1.3"]["outcome"] == "not_automated"  # T-24h opened 23 hours ago: due (no check here)
    assert "phase T+1h opens at" in items["10.3.1"]["reason"] and "in 1 h 59 min" in items["10.3.1"]["reason"]
    assert "phase T+24h opens at" in items["10.4.1"]["reason"]
    section = next(s for s in project.record()["sections"] if s["number"] == 10)
    assert not section["ready"] and "10.3.1" in section["blocking"]
    assert section["counts"]["not_yet_due"] == 14  # 10.2, 10.3 and 10.4
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*14 not yet due*"])  # its own category on pytest's last line


def test_go_live_a_day_behind_checks_them(project):
    _profile(project, _go_live(-25))
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest("-m", "golive", "-p", "no:cacheprovider")
    items = project.items()
    assert items["10.3.1"]["outcome"] == "passed" and items["10.4.1"]["outcome"] == "passed"
    assert not any(i["outcome"] == "not_yet_due" for i in items.values())
    assert items["10.4.5"]["outcome"] == "awaiting_attestation"  # an attestation, now due


def test_without_go_live_everything_is_due(project):
    _profile(project, None)
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest("-m", "golive", "-p", "no:cacheprovider")
    assert project.items()["10.3.1"]["outcome"] == "passed"


def test_t_minus_24h_items_are_due_a_day_before(project):
    _profile(project, _go_live(23))  # T-24h opened an hour ago, T-0 not yet
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest("-m", "golive", "-p", "no:cacheprovider")
    items = project.items()
    assert items["10.1.3"]["outcome"] == "not_automated"  # due, and no check in this project
    assert items["10.2.3"]["outcome"] == "not_yet_due"


@pytest.mark.parametrize("select", [("--apex-phase", "T+1h"), ("-m", "t_plus_1h"), ("--apex-phase", "t_plus_1h")])
def test_one_phase_is_selected(project, select):
    _profile(project, _go_live(-2))
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest(*select, "-p", "no:cacheprovider")
    items = project.items()
    ran = sorted(i for i, v in items.items() if v["outcome"] != "not_run")
    assert ran == T_PLUS_1H, result.stdout.str()[-2000:]
    assert items["10.3.1"]["outcome"] == "passed"


def test_unknown_phase_and_bad_go_live_are_usage_errors(project):
    _profile(project, None)
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest("--apex-phase", "T+2h", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown phase 'T+2h'; phases are T-24h, T-0, T+1h" in result.stderr.str()
    _profile(project, "2026-05-01 noon")
    result = project.pytester.runpytest("-m", "golive", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "environments/local.toml" in err and "key 'go_live'" in err and "Fix: write it like" in err


def test_process_items_link_the_stored_run_of_their_time(project):
    """Hour 6 is an attestation; its evidence names the stored record of the run made at T+6h."""
    go_live = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)
    _profile(project, go_live.isoformat())
    stored = go_live + dt.timedelta(hours=6, minutes=3)
    run_dir = project.path / "store" / "local" / f"{stored.strftime('%Y%m%dT%H%M%SZ')}-r1-0123abcd"
    run_dir.mkdir(parents=True)
    (run_dir / "checklist.json").write_text("{}")
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest("-m", "postdeploy", "--apex-store", "store", "--apex-report", "out",
                               "-p", "no:cacheprovider")
    items = project.items("out")
    hour6 = items["11.1.2"]
    assert hour6["outcome"] == "awaiting_attestation"
    links = [e for e in hour6["evidence"] if e["name"].startswith("run at Hour 6")]
    assert links and links[0]["value"].endswith(f"/local/{run_dir.name}/checklist.json"), hour6
    assert not [e for e in items["11.1.1"]["evidence"] if e["name"].startswith("run at")]  # no run at T+1h


def test_schedule_prints_each_phase_in_local_time_and_utc(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "base.toml").write_text('go_live = 2026-05-01T12:00:00Z\n'
                                                         '[targets.postgres]\npassword = "${NOT_SET_HERE}"\n')
    (tmp_path / "environments" / "prod.toml").write_text('extends = "base"\n')
    assert cli_main(["schedule", "--env", "prod"]) == 0
    out = capsys.readouterr().out
    assert "T+1h    Post-Launch (T+1 hour), section 10.3: " in out and "(2026-05-01 13:00 UTC)" in out
    assert "T+24h" in out and "(2026-05-02 12:00 UTC)" in out
    assert "items: 10.3.1, 10.3.2, 10.3.3, 10.3.4" in out
    assert "(2026-05-29 12:00 UTC)" in out  # weekly, day 28
    assert cli_main(["schedule", "--env", "prod", "--crontab"]) == 0
    cron = capsys.readouterr().out.splitlines()
    assert "CRON_TZ=UTC" in cron
    assert "0 13 1 5 * cd /srv/apexready && pytest --env=prod -m t_plus_1h  # T+1h" in cron
    assert "0 12 2,3,4,5,6,7,8 5 * cd /srv/apexready && pytest --env=prod -m daily  # daily" in cron
    assert cli_main(["schedule", "--env", "prod", "--cronjobs"]) == 0
    jobs = {j["metadata"]["name"]: j["spec"] for j in json.loads(capsys.readouterr().out)["items"]}
    assert jobs["apexready-t-plus-24h"] == {"schedule": "0 12 2 5 *", "timeZone": "Etc/UTC"}
    assert jobs["apexready-weekly"]["schedule"] == "0 12 8,15,22,29 5 *"


def test_schedule_without_go_live_says_how_to_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "prod.toml").write_text('description = "x"\n')
    assert cli_main(["schedule", "--env", "prod"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("apexready schedule: ") and "no go_live. Fix: add go_live = " in err


def test_cron_schedule_spans_a_month_boundary():
    go_live = dt.datetime(2026, 5, 28, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert ph.cron_schedule(ph.phase("daily"), go_live) == "30 7 29,30,31,1,2,3,4 5,6 *"
