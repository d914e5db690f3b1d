"""Mechanics of the plugin, through pytester: markers, attaching checks, outcomes, the report."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from checkrun import passing_checks

CHECKS = """
from pytest_apexready import check, fail_check, not_applicable

@check("2.1.1")
def test_migrations(evidence):
    evidence.record("versions", ["001", "002"], source="SELECT version FROM schema_migrations")

@check("2.1.2")
def test_indexes():
    fail_check("indexes", observed=3, expected="at least 5", where="pg_indexes on postgres")

@check("2.3.1")
def test_redis_persistence():
    pass

@check("3.1.7")
def test_replicas():
    pass
"""


def _today(days: int = 0) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def test_markers_registered_and_strict(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest("--strict-markers", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.database: section 2: Database Preparation*",
                                 "@pytest.mark.golive: *", "@pytest.mark.postgres: *"])
    assert project.pytester.runpytest("--strict-markers", "-q", "-p", "no:cacheprovider").ret == 1


def test_collect_only_by_section_marker_lists_only_that_section(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest("--co", "-q", "-m", "database")
    out = result.stdout.str()
    assert "test_checks.py::test_migrations" in out
    assert "test_replicas" not in out
    assert "checklist::2.2.1" in out  # not yet automated, still a database item
    assert "checklist::9.3.1" not in out
    listed = [line for line in result.stdout.lines if "::" in line]
    assert len(listed) == passing_checks(2)[1]  # all of section 2 (each declared part is a node of its own)


def test_section_marker_comes_from_catalog_not_decorator(project):
    project.pytester.makepyfile(test_checks="""
        import pytest
        from pytest_apexready import check
        @pytest.mark.golive
        @check("2.1.1")
        def test_x(): pass
    """)
    out = project.pytester.runpytest("--co", "-q", "-m", "database").stdout.str()
    assert "test_checks.py::test_x" in out


def test_unknown_item_id_fails_collection(project):
    project.pytester.makepyfile(test_checks="""
        from pytest_apexready import check
        @check("2.9.9")
        def test_x(): pass
    """)
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_checks.py::test_x claims checklist item '2.9.9', which is not in the catalog*"])


def test_two_checks_claiming_one_item_fail_collection(project):
    project.pytester.makepyfile(test_checks="""
        from pytest_apexready import check
        @check("2.1.1")
        def test_a(): pass
        @check("2.1.1")
        def test_b(): pass
    """)
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*checklist item 2.1.1 is claimed by more than one check*test_a*test_b*"])


def test_check_on_attestation_item_is_rejected(project):
    project.pytester.makepyfile(test_checks="""
        from pytest_apexready import check
        @check("9.3.1")
        def test_a(): pass
    """)
    result = project.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*claims 9.3.1 (Terms of Service), an attestation item*"])


def test_parametrized_check_is_one_item_worst_instance_wins(project):
    project.pytester.makepyfile(test_checks="""
        import pytest
        from pytest_apexready import check
        @check("3.1.7")
        @pytest.mark.parametrize("workload", ["backend", "console"])
        def test_replicas(workload):
            assert workload == "backend", f"{workload}: observed 1 replica; expected 3"
    """)
    project.pytester.runpytest("-m", "app")
    item = project.items()["3.1.7"]
    assert item["outcome"] == "failed"
    assert "console: observed 1 replica" in item["reason"]
    assert len(item["tests"]) == 2


def test_all_outcomes_and_report_files(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 1
    rec = project.record()
    assert rec["schema"] == "apexready.checklist/v1"
    assert rec["summary"]["items"] == 160
    items = project.items()
    assert items["2.1.1"]["outcome"] == "passed" and items["2.1.1"]["checked"] is True
    assert items["2.1.1"]["evidence"] == [{"name": "versions", "value": ["001", "002"],
                                          "source": "SELECT version FROM schema_migrations"}]
    assert items["2.1.2"]["outcome"] == "failed"
    assert items["2.1.2"]["reason"] == "indexes: observed 3; expected at least 5; read from pg_indexes on postgres"
    assert items["2.2.1"]["outcome"] == "not_automated" and items["2.2.1"]["checked"] is False
    assert items["9.3.1"]["outcome"] == "awaiting_attestation"
    outcomes = rec["summary"]["outcomes"]
    assert outcomes["not_automated"] == sum(1 for i in items.values()
                                            if i["kind"] == "automated") - 4
    for name in ("checklist.md", "checklist.html"):
        assert (project.path / "reports" / name).stat().st_size > 1000
    md = (project.path / "reports" / "checklist.md").read_text()
    assert "- [x] **2.1.1 Migrations:** All 14 migrations applied successfully — *passed*" in md
    assert "- [ ] **2.1.2 Indexes:**" in md
    assert "**Sign-off:** _________________ (Database Admin) — NOT READY: blocked by 2.1.2" in md
    assert "| Platform Engineering Lead |" in md
    result.stdout.fnmatch_lines(["*apexready checklist*", " 2. Database Preparation*not ready (Database Admin)",
                                 "sections ready for sign-off: none"])


def test_not_applicable_when_profile_declares_component_absent(project):
    project.write("environments/local.toml", 'description = "x"\n[absent]\nredis = "no cache tier in this region"\n')
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest("-m", "database")
    item = project.items()["2.3.1"]
    assert item["outcome"] == "not_applicable" and item["checked"] is True
    assert item["reason"] == "redis is absent in profile local: no cache tier in this region"


SKIPPING = """
import pytest
from pytest_apexready import check, not_applicable

@pytest.fixture
def driver():
    pytest.skip("no driver for this database")

@check("2.1.1")
def test_skips():
    pytest.skip("server too old")

@check("2.1.2")
def test_imports():
    pytest.importorskip("no_such_module_apexready")

@check("2.1.3")
def test_fixture_skips(driver):
    pass

@check("2.1.4")
def test_na_without_key():
    not_applicable("no replica here")

@check("2.1.5")
def test_na_declared():
    not_applicable("no pooler in this region", key="expectations.pooler")
"""


def test_a_skip_nobody_declared_is_an_error_never_a_tick(project):
    project.pytester.makepyfile(test_checks=SKIPPING)
    result = project.pytester.runpytest("-m", "database", "-p", "no:cacheprovider")
    items = project.items()
    outcomes = {i: items[i]["outcome"] for i in ("2.1.1", "2.1.2", "2.1.3", "2.1.4", "2.1.5")}
    assert outcomes == {"2.1.1": "error", "2.1.2": "error", "2.1.3": "error", "2.1.4": "error",
                        "2.1.5": "not_applicable"}, outcomes
    assert items["2.1.1"]["reason"] == "skipped without a declared reason: server too old"
    assert items["2.1.2"]["reason"].startswith("skipped without a declared reason: could not import "
                                               "'no_such_module_apexready'")
    assert items["2.1.3"]["reason"] == "skipped without a declared reason: no driver for this database"
    assert items["2.1.4"]["reason"].startswith("skipped without a declared reason: not_applicable('no replica here') "
                                               "names no profile key")
    assert items["2.1.5"]["reason"] == "no pooler in this region (profile key expectations.pooler)"
    # pytest agrees: the undeclared skips are failures and errors, not skips that would pass a CI gate
    counts = result.parseoutcomes()
    assert counts.get("failed", 0) + counts.get("errors", counts.get("error", 0)) == 4, counts
    assert result.ret == 1


def test_waiver_turns_failure_into_waived_and_expired_one_does_not(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    project.write("waivers/local.toml", f"""
[[waiver]]
item = "2.1.2"
justification = "index build scheduled, ticket DB-42"
approved_by = "Dana Lee (Database Admin)"
expires = {_today(30)}
""")
    result = project.pytester.runpytest("-m", "database", "-k", "indexes or migrations")
    assert {k: v for k, v in result.parseoutcomes().items() if k != "deselected"} == {"passed": 1, "waived": 1}
    assert result.ret == 0
    item = project.items()["2.1.2"]
    assert item["outcome"] == "waived" and item["waiver"]["approved_by"] == "Dana Lee (Database Admin)"
    assert item["tests"][0]["waived_from"] == "failed"

    project.write("waivers/local.toml", f"""
[[waiver]]
item = "2.1.2"
justification = "old"
approved_by = "Dana Lee"
expires = {_today(-1)}
""")
    result = project.pytester.runpytest("-m", "database", "-k", "indexes or migrations")
    result.assert_outcomes(passed=1, failed=1)
    rec = project.record()
    assert project.items()["2.1.2"]["outcome"] == "failed"
    assert any("expired on" in p["message"] and p["file"] == "waivers/local.toml" for p in rec["problems"])
    result.stdout.fnmatch_lines(["problem: waivers/local.toml *waiver* #1 (item 2.1.2): expired on*"])


def test_malformed_waiver_is_reported_and_hides_nothing(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    project.write("waivers/local.toml", '[[waiver]]\nitem = "2.1.2"\njustification = "x"\n')
    result = project.pytester.runpytest("-m", "database", "-k", "indexes")
    result.assert_outcomes(failed=1)
    problems = project.record()["problems"]
    assert problems and "missing 'approved_by'" in problems[0]["message"]
    assert "missing 'expires'" in problems[0]["message"]
    project.write("waivers/local.toml", '[[waiver]\nitem = ')
    result = project.pytester.runpytest("-m", "database", "-k", "indexes")
    result.assert_outcomes(failed=1)
    assert "not valid TOML" in project.record()["problems"][0]["message"]


def test_attestation_valid_expired_and_missing(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    project.write("attestations/local.toml", f"""
[[attestation]]
item = "9.3.1"
attested_by = "Sam Ortiz (Legal)"
date = {_today(-3)}
evidence = "https://wiki.example.com/legal/tos-review"
expires = {_today(180)}

[[attestation]]
item = "9.3.2"
attested_by = "Sam Ortiz (Legal)"
date = {_today(-400)}
evidence = "https://wiki.example.com/legal/privacy"
expires = {_today(-35)}

[[attestation]]
item = "2.1.1"
attested_by = "Someone"
date = {_today()}
evidence = "x"
expires = {_today(5)}
""")
    result = project.pytester.runpytest("-m", "continuity or database")
    items = project.items()
    assert items["9.3.1"]["outcome"] == "attested" and items["9.3.1"]["checked"]
    assert items["9.3.1"]["attestation"]["attested_by"] == "Sam Ortiz (Legal)"
    assert items["9.3.2"]["outcome"] == "awaiting_attestation"
    assert "expired on" in items["9.3.2"]["reason"]
    assert items["9.3.3"]["outcome"] == "awaiting_attestation"
    assert "no attestation is recorded in attestations/local.toml" in items["9.3.3"]["reason"]
    problems = " ".join(p["message"] for p in project.record()["problems"])
    assert "item 2.1.1 is automated, not attestation" in problems
    assert result.ret == 1  # awaiting attestation blocks like a failure


def test_section_ready_when_every_item_signable(project):
    source, _ = passing_checks(2)
    project.pytester.makepyfile(test_db=source)
    result = project.pytester.runpytest("-m", "database")
    assert result.ret == 0
    rec = project.record()
    section = rec["sections"][1]
    assert section["ready"] is True and section["blocking"] == []
    assert [a["ready"] for a in rec["approvals"] if a["role"] == "Database Admin"] == [True]
    result.stdout.fnmatch_lines([" 2. Database Preparation*READY (Database Admin)", "sections ready for sign-off: 2"])
    md = (project.path / "reports" / "checklist.md").read_text()
    assert "(Database Admin) — READY to sign" in md


def test_plugin_disabled_leaves_plain_pytest(project):
    plain = CHECKS.replace("(evidence)", "()").replace("    evidence.record", "    pass  # ")
    project.pytester.makepyfile(test_checks=plain)
    result = project.pytester.runpytest("-p", "no:apexready", "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=3, failed=1, warnings=0)
    assert not (project.path / "reports").exists()
    assert "apexready" not in result.stdout.str()
    # a check claiming a part is plain pytest too
    project.pytester.makepyfile(test_checks='from pytest_apexready import check\n@check("1.1.2", part="aws")\n'
                                            'def test_a(): pass\n')
    result = project.pytester.runpytest("-p", "no:apexready", "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1, warnings=0)


def test_importing_the_check_api_does_not_import_the_plugin():
    import subprocess
    import sys

    code = ("import sys, pytest_apexready\n"
            "from pytest_apexready import check, fail_check, Finding, not_applicable\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('pytest_apexready'))\n"
            "assert 'pytest_apexready.plugin' not in sys.modules, loaded\n"
            "assert not {'pytest_apexready.fixtures', 'pytest_apexready.report', 'pytest_apexready.signoff',\n"
            "            'pytest_apexready.profile'} & set(loaded), loaded\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_plain_tests_without_checks_write_no_report(project):
    project.pytester.makepyfile(test_plain="def test_a(): pass")
    result = project.pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not (project.path / "reports").exists()


def test_report_dir_option_and_junitxml(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest("-m", "database", "--apex-report", "out/ck", "--junitxml", "junit.xml")
    assert project.record("out/ck")["summary"]["items"] == 160
    xml = (project.path / "junit.xml").read_text()
    assert 'name="apex_item" value="2.1.1"' in xml


def test_last_failed_reruns_only_failed_items(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest("-m", "database")
    result = project.pytester.runpytest("-m", "database", "--lf", "-q")
    out = result.stdout.str()
    assert "test_indexes" in out
    assert result.parseoutcomes()["failed"] == 1  # test_indexes, the one failed check, and nothing else
    assert "passed" not in result.parseoutcomes()
    items = project.items()
    assert items["2.1.1"]["outcome"] == "not_run"
    assert items["2.1.2"]["outcome"] == "failed"


def test_parallel_run_writes_the_same_record_as_serial(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    project.write("attestations/local.toml", f"""
[[attestation]]
item = "9.3.1"
attested_by = "Sam"
date = {_today()}
evidence = "https://x"
expires = {_today(10)}
""")
    project.pytester.runpytest_subprocess("--apex-report", "serial")
    project.pytester.runpytest_subprocess("-n", "4", "--apex-report", "parallel")

    def strip(rec):
        rec = json.loads(json.dumps(rec))
        rec.pop("run")
        rec["revision"].pop("id")  # a hash over the record, run times included
        for s in rec["sections"]:
            for g in s["groups"]:
                for i in g["items"]:
                    i["produced_by"].pop("run_started")
                    for t in i["tests"] + [t for p in i.get("parts", []) for t in p["tests"]]:
                        t.pop("duration_s")
        return rec

    serial, parallel = strip(project.record("serial")), strip(project.record("parallel"))
    assert serial == parallel
    assert project.items("parallel")["2.1.1"]["evidence"][0]["value"] == ["001", "002"]


def test_readme_lists_every_expectation_as_generated():
    import re
    from pathlib import Path

    from pytest_apexready.profile import expectations_table

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    m = re.search(r"<!-- expectations:begin[^>]*-->\n(.*?)<!-- expectations:end -->", text, re.S)
    assert m, "README.md has no <!-- expectations:begin --> ... <!-- expectations:end --> table"
    assert m.group(1) == expectations_table(), (
        "README's expectations table differs from EXPECTATIONS: replace it with "
        "pytest_apexready.profile.expectations_table()")


def test_an_attestation_part_takes_an_attestation_for_that_part_only(tmp_path):
    """A part with attestation = true is vouched for by a person: "ID[part]" in attestations/<env>.toml."""
    from pytest_apexready.catalog import Catalog, Item, _parts
    from pytest_apexready.records import load_records

    parts = _parts({"id": "2.1.6", "kind": "automated", "parts": [
        {"name": "postgres", "text": "WAL archiving"},
        {"name": "restore", "text": "a restore was rehearsed", "attestation": True}]})
    assert [(p.name, p.attestation) for p in parts] == [("postgres", False), ("restore", True)]
    item = Item("2.1.6", "PITR", "", 2, "PostgreSQL", "automated", "critical", ("postgres",), (), "DBA", "database",
                parts)
    catalog = Catalog((), (item,), ())
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "local.toml").write_text(f"""
[[attestation]]
item = "2.1.6[restore]"
attested_by = "Dana"
date = {_today()}
evidence = "https://wiki.example/restore-drill"
expires = {_today(30)}

[[attestation]]
item = "2.1.6[postgres]"
attested_by = "Dana"
date = {_today()}
evidence = "x"
expires = {_today(30)}
""")
    records = load_records("local", tmp_path / "w", tmp_path / "a", catalog, tmp_path)
    assert set(records.attestations) == {"2.1.6[restore]"}
    assert [p["message"] for p in records.problems] == [
        "'2.1.6[postgres]' is not an attestation part of item 2.1.6 in the catalog; this record does not count"]
