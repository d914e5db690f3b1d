"""What the terminal says: each checklist outcome in a category of its own, with its own word and letter."""

from __future__ import annotations

import re

import pytest

from checkrun import passing_checks
from pytest_apexready import load_catalog

#: every item (and part) of section 2 passes; nothing fails anywhere
DATABASE, CHECKS = passing_checks(2)
ATTESTATIONS = sum(1 for i in load_catalog().items if i.kind == "attestation")
CONTINUITY = [i.kind for i in load_catalog().items_of(9)]


def _final_line(result: pytest.RunResult) -> str:
    return next(line for line in reversed(result.stdout.lines) if re.search(r" in [\d.]+s", line))


def _counts(line: str) -> dict[str, int]:
    """``= 3 passed, 2 awaiting attestation in 1.0s =`` -> {"passed": 3, "awaiting attestation": 2}
    (pytester's parseoutcomes reads one word per category)."""
    return {word: int(n) for n, word in re.findall(r"(\d+) ([a-z][a-z ]*?)(?=, | in [\d.]+s)", line)}


def test_final_line_names_awaiting_and_not_automated_and_no_failure(project):
    project.pytester.makepyfile(test_db=DATABASE)
    result = project.pytester.runpytest("-p", "no:cacheprovider")
    line = _final_line(result)
    assert f"{CHECKS} passed" in line
    assert f"{ATTESTATIONS} awaiting attestation" in line
    assert re.search(r"\d+ not automated", line)
    assert "failed" not in line and "error" not in line and "skipped" not in line
    assert "= FAILURES =" not in result.stdout.str()  # no long sections when nothing failed
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the attestation items still block sign-off


def test_a_real_failure_keeps_its_long_section(project):
    project.pytester.makepyfile(test_db=DATABASE.replace("def test_1(): pass", "def test_1():\n    assert 1 == 2"))
    result = project.pytester.runpytest("-p", "no:cacheprovider", "-m", "database")
    assert f"1 failed, {CHECKS - 1} passed" in _final_line(result)
    assert "= FAILURES =" in result.stdout.str()
    assert "awaiting attestation" not in result.stdout.str()


def test_not_automated_alone_blocks_the_exit_status(project):
    project.pytester.makepyfile(test_db='from pytest_apexready import check\n@check("2.1.1")\ndef test_a(): pass\n')
    result = project.pytester.runpytest("-p", "no:cacheprovider", "-m", "database")
    line = _final_line(result).split(" in ")[0].strip("= ")
    assert re.fullmatch(rf"1 passed, \d+ deselected, {CHECKS - 1} not automated", line), line
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_progress_letters_and_verbose_words(project):
    project.pytester.makepyfile(test_db=DATABASE)
    project.write("environments/local.toml", 'description = "x"\n[absent]\nk8s = "no cluster"\n')
    quiet = project.pytester.runpytest("-p", "no:cacheprovider", "-m", "continuity or ai_cost")
    progress = "".join(line.split(" ", 1)[-1] for line in quiet.stdout.lines if line.startswith("checklist"))
    assert set(progress.split("[")[0].strip()) <= {"A", "u"}
    verbose = project.pytester.runpytest("-p", "no:cacheprovider", "-v", "-m", "continuity")
    verbose.stdout.fnmatch_lines([
        "checklist::9.1.1 NOT AUTOMATED (no check claims item 9.1.1)*",
        "checklist::9.3.1 AWAITING ATTESTATION*",
        "    no attestation is recorded in attestations/local.toml. Record one: *attestation* item = \"9.3.1\"*",
    ])


def test_ra_lists_each_category_under_its_own_heading(project):
    project.pytester.makepyfile(test_db=DATABASE + '@check("6.1.1")\ndef test_na():\n'
                                '    from pytest_apexready import not_applicable\n'
                                '    not_applicable("no pooler", key="absent.postgres")\n')
    result = project.pytester.runpytest("-p", "no:cacheprovider", "-ra", "-m", "continuity or performance")
    out = result.stdout.str()
    headings = re.findall(r"^-+ (\d+) (awaiting attestation|not automated|not applicable)\b.* -+$", out, re.M)
    assert [h[1] for h in headings] == ["awaiting attestation", "not automated", "not applicable"]
    result.stdout.fnmatch_lines(["*- * awaiting attestation (record them in attestations/local.toml) -*",
                                 "AWAITING ATTESTATION 9.3.1 Terms of Service",
                                 "NOT AUTOMATED 6.1.2 Query Performance",
                                 "NOT APPLICABLE 6.1.1 * - no pooler (profile key absent.postgres)"])
    awaiting = [line for line in result.stdout.lines if line.startswith("AWAITING ATTESTATION")]
    assert len(awaiting) == len(set(awaiting)) == int(dict((w, n) for n, w in headings)["awaiting attestation"])


def test_waived_and_attested_have_their_own_words(project):
    project.pytester.makepyfile(test_db='from pytest_apexready import check\n@check("2.1.2")\n'
                                        'def test_x():\n    assert False, "observed 3"\n')
    project.write("waivers/local.toml", '[[waiver]]\nitem = "2.1.2"\njustification = "DB-42"\n'
                                        'approved_by = "Dana"\nexpires = 2999-01-01\n')
    project.write("attestations/local.toml", '[[attestation]]\nitem = "9.3.1"\nattested_by = "Sam"\n'
                                             'date = 2020-01-01\nevidence = "https://x"\nexpires = 2999-01-01\n'
                                             '[[attestation]]\nitem = "9.3.2"\nattested_by = "Sam"\n'
                                             'date = 2020-01-01\nevidence = "https://x"\nexpires = 2021-01-01\n')
    result = project.pytester.runpytest("-p", "no:cacheprovider", "-v", "-ra", "-k", "test_x or 9.3.1 or 9.3.2")
    result.stdout.fnmatch_lines(["test_db.py::test_x WAIVED (waived by Dana until 2999-01-01: DB-42)*",
                                 "checklist::9.3.1 ATTESTED*"])
    result.stdout.fnmatch_lines(["WAIVED 2.1.2 Indexes - waived by Dana until 2999-01-01: DB-42",
                                 "ATTESTED 9.3.1 Terms of Service - by Sam on 2020-01-01, expires 2999-01-01"])
    result.stdout.fnmatch_lines(["AWAITING ATTESTATION 9.3.2 Privacy Policy - the attestation expired on 2021-01-01 "
                                 "in attestations/local.toml. Record one:*"])
    counts = _counts(_final_line(result))
    assert counts == {"waived": 1, "attested": 1, "awaiting attestation": 1, "deselected": counts["deselected"]}
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_junit_carries_apex_outcome_and_categories_survive_xdist(project, workers):
    project.pytester.makepyfile(test_db=DATABASE)
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=junit.xml",
                                                   "-m", "database or continuity", *workers)
    awaiting, automated = CONTINUITY.count("attestation"), CONTINUITY.count("automated")
    counts = _counts(_final_line(result))
    counts.pop("deselected", None)  # xdist's controller does not count them
    assert counts == {"passed": CHECKS, "not automated": automated, "awaiting attestation": awaiting}, counts
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    xml = (project.path / "junit.xml").read_text()
    assert xml.count('name="apex_outcome"') == CHECKS + len(CONTINUITY)
    assert xml.count('name="apex_outcome" value="awaiting_attestation"') == awaiting
    assert xml.count('name="apex_outcome" value="not_automated"') == automated
    assert xml.count('name="apex_outcome" value="passed"') == CHECKS


def test_could_not_check_is_an_error_not_a_failure(project):
    project.pytester.makepyfile(test_db='from pytest_apexready import TargetUnavailable, check\n@check("2.1.1")\n'
                                        'def test_a():\n    raise TargetUnavailable("postgres", "10.0.0.1:5432", '
                                        '"ConnectionError: refused")\n')
    result = project.pytester.runpytest("-p", "no:cacheprovider", "-k", "test_a", "-ra")
    line = _final_line(result)
    assert "1 error" in line and "failed" not in line, line
    result.stdout.fnmatch_lines(["*= ERRORS =*", "*ERROR at call of test_a*",
                                 "could not check: postgres (10.0.0.1:5432) ConnectionError: refused",
                                 "ERROR test_db.py::test_a - could not check: postgres (10.0.0.1:5432)*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
