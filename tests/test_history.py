"""``apexready diff`` and ``apexready history`` on records the plugin writes (pytester projects)."""

from __future__ import annotations

import json
import time

from pytest_apexready import history
from pytest_apexready.cli import main as cli_main

#: RUN=1: 2.1.2 passes, 2.3.1 fails; RUN=2: 2.1.2 fails (a regression), 2.3.1 passes (a fix),
#: and 2.1.1 reads one more migration (changed evidence)
CHECKS = """
import os
from pytest_apexready import check, fail_check

SECOND = os.environ.get("APEX_TEST_RUN") == "2"

@check("2.1.1")
def test_migrations(evidence):
    evidence.record("versions", ["001", "002", "003"] if SECOND else ["001", "002"], source="schema_migrations")

@check("2.1.2")
def test_indexes():
    if SECOND:
        fail_check("indexes", observed=3, expected="at least 5", where="pg_indexes on postgres")

@check("2.3.1")
def test_redis_persistence():
    if not SECOND:
        fail_check("appendonly", observed="no", expected="yes", where="CONFIG GET appendonly on redis")
"""


def _two_runs(project, monkeypatch, *extra: str) -> None:
    project.pytester.makepyfile(test_checks=CHECKS)
    for run in ("1", "2"):
        monkeypatch.setenv("APEX_TEST_RUN", run)
        project.pytester.runpytest("-m", "database", "--apex-report", f"run{run}", "-p", "no:cacheprovider", *extra)
        assert (project.path / f"run{run}" / "checklist.json").is_file()
        time.sleep(1.1)  # run ids have one-second resolution


def test_diff_groups_regressed_fixed_and_changed_evidence(project, monkeypatch, capsys):
    _two_runs(project, monkeypatch)
    capsys.readouterr()
    d = history.diff_records(history.load_any(project.path / "run1"), history.load_any(project.path / "run2"))
    assert [c.item for c in d.regressed] == ["2.1.2"]
    assert [c.item for c in d.fixed] == ["2.3.1"]
    assert [c.item for c in d.evidence] == ["2.1.1"]
    assert d.changed == []
    assert cli_main(["diff", str(project.path / "run1"), str(project.path / "run2")]) == 1
    out = capsys.readouterr().out
    assert "regressed: 1\n  2.1.2 Indexes: passed -> failed (indexes: observed 3; expected at least 5; read" in out
    assert "fixed: 1\n  2.3.1" in out and "failed -> passed" in out
    assert 'versions: ["001", "002"] -> ["001", "002", "003"]' in out
    assert out.rstrip().endswith("REGRESSED")
    # the other way round the fix is a regression and the regression a fix; a run against itself: nothing
    assert cli_main(["diff", str(project.path / "run2"), str(project.path / "run1")]) == 1
    assert cli_main(["diff", str(project.path / "run2"), str(project.path / "run2" / "checklist.json")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no regression")


def test_items_not_run_on_one_side_are_not_compared(project, monkeypatch):
    _two_runs(project, monkeypatch)
    narrow = json.loads((project.path / "run2" / "checklist.json").read_text())
    for item in history.items_of(narrow).values():
        if item["id"] == "2.1.2":
            item["outcome"] = "not_run"
    d = history.diff_records(history.load_any(project.path / "run1"), narrow)
    assert "2.1.2" in d.not_compared and not d.regressed


def test_diff_refuses_what_is_not_a_record(tmp_path, capsys):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    assert cli_main(["diff", str(tmp_path / "x.json"), str(tmp_path / "x.json")]) == 2
    assert "not an apexready checklist record" in capsys.readouterr().err


def test_history_of_an_item_over_the_store(project, monkeypatch, capsys):
    _two_runs(project, monkeypatch, "--apex-store", "store")
    runs = sorted(p.name for p in (project.path / "store" / "local").iterdir() if p.is_dir())
    assert len(runs) == 2
    assert (project.path / "store" / "local" / "latest").read_text().strip() == runs[1]
    monkeypatch.chdir(project.path)
    capsys.readouterr()  # the two runs' terminal output
    assert cli_main(["history", "--store", "store", "--env", "local", "--item", "2.1.2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("2.1.2 passed") and runs[0] in lines[0]
    assert f"{runs[1]} (latest)  2.1.2 failed: indexes: observed 3; expected at least 5" in lines[1]
    assert cli_main(["history", "--store", "store", "--env", "local"]) == 0
    assert "failed 1" in capsys.readouterr().out
    assert cli_main(["history", "--store", "store", "--env", "staging"]) == 1


def test_reports_show_what_changed_since_the_previous_run(project, monkeypatch):
    """--apex-compare DIR; with --apex-store alone the store's latest run of the environment is the previous one."""
    _two_runs(project, monkeypatch, "--apex-store", "store")
    md = (project.path / "run2" / "checklist.md").read_text()
    assert "**Since the previous run:** compared with local " in md
    assert "1 regressed, 1 fixed, 1 with changed evidence" in md
    under_212 = md.split("**2.1.2 Indexes:**")[1].split("- [")[0]
    assert "  - since the previous run: regressed: passed -> failed" in under_212
    assert "since the previous run: fixed: failed -> passed" in md
    html = (project.path / "run2" / "checklist.html").read_text()
    assert '<div class="since">since the previous run: regressed: passed -&gt; failed</div>' in html
    assert "Since the previous run" not in (project.path / "run1" / "checklist.md").read_text()  # nothing before it
    monkeypatch.setenv("APEX_TEST_RUN", "1")
    project.pytester.runpytest("-m", "database", "--apex-report", "run3", "--apex-compare", "run2",
                               "-p", "no:cacheprovider")
    md3 = (project.path / "run3" / "checklist.md").read_text()
    assert "since the previous run: regressed: failed -> passed" not in md3
    assert "since the previous run: fixed: failed -> passed" in md3 and "regressed: passed -> failed" in md3
