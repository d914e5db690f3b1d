"""``--apex-rerun``: run again what failed, merge into a new revision, keep or invalidate signatures."""

from __future__ import annotations

import json
import re

import pytest

from pytest_apexready import signing
from test_signing import DBA, PEL, apex, keys, load, make_project, run, section, set_failing

pytest_plugins = ["pytester"]


def _item(record: dict, item_id: str) -> dict:
    return next(i for s in record["sections"] for g in s["groups"] for i in g["items"] if i["id"] == item_id)


def test_rerun_runs_only_failed_items_and_merges(pytester, tmp_path, capsys):
    reports = make_project(pytester, failing=["3.1.2", "3.2.3"])
    collected = int(re.search(r"collected (\d+) items", run(pytester).stdout.str()).group(1))
    trust = keys(tmp_path, capsys, {"dana": [DBA], "pat": [PEL]})
    assert apex(capsys, "sign", reports, "--role", DBA, "--name", "Dana", "--key", tmp_path / "keys/dana.key")[0] == 0
    first = load(reports)
    set_failing(pytester, ["3.2.3"])  # the on-call fixed 3.1.2
    result = run(pytester, f"--apex-rerun={reports}", "-v")
    # the 2 failed checks + the attestation items still awaiting (sections other than 2 and 3)
    awaiting = first["summary"]["outcomes"]["awaiting_attestation"]
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 1 and outcomes["failed"] == 1 and outcomes["awaiting"] == awaiting
    assert outcomes["deselected"] == collected - 2 - awaiting
    result.stdout.fnmatch_lines(["*test_3_1_2 PASSED*", "*test_3_2_3 FAILED*"])
    assert "test_2_1_1" not in result.stdout.str()
    second = load(reports)
    assert second["revision"]["number"] == 2 and second["revision"]["previous"] == first["revision"]["id"]
    assert (reports / "revisions" / "r1.json").read_text() == json.dumps(first, indent=2) + "\n"
    assert _item(second, "3.1.2")["outcome"] == "passed"
    assert _item(second, "3.1.2")["produced_by"]["revision"] == 2
    assert _item(second, "3.2.3")["produced_by"]["revision"] == 1  # failed again the same way: the first run stands
    assert _item(second, "2.1.1")["produced_by"]["revision"] == 1
    assert _item(second, "2.1.1")["outcome"] == "passed"  # not rerun, but kept (not "not run")
    assert second["summary"]["outcomes"]["passed"] == 36 and second["summary"]["outcomes"]["failed"] == 1
    # section 2 was untouched and keeps its signature; the record still verifies
    assert section(second, 2)["signatures"] == section(first, 2)["signatures"]
    rc, out = apex(capsys, "verify", reports, "--trust", trust)
    assert rc == 0, out
    rc, out = apex(capsys, "verify", reports / "checklist.signed.json", "--trust", trust)
    assert rc == 0, out
    # a second rerun chains on
    set_failing(pytester, [])
    run(pytester, f"--apex-rerun={reports}")
    third = load(reports)
    assert third["revision"]["number"] == 3 and third["revision"]["previous"] == second["revision"]["id"]
    assert [h["revision"]["number"] for h in third["revisions"]] == [1, 2]
    assert _item(third, "3.2.3")["produced_by"]["revision"] == 3 and section(third, 3)["ready"]
    assert apex(capsys, "sign", reports, "--role", PEL, "--name", "Pat", "--key", tmp_path / "keys/pat.key")[0] == 0
    rc, out = apex(capsys, "verify", reports / "checklist.signed.json", "--trust", trust)
    assert rc == 0, out


def test_rerun_invalidates_exactly_the_changed_sections(pytester, tmp_path, capsys):
    # 2.1.2 fails under a waiver, so section 2 is ready and signed; section 3 passes and is signed
    reports = make_project(pytester, failing=["2.1.2"], waived=["2.1.2"])
    run(pytester)
    trust = keys(tmp_path, capsys, {"dana": [DBA], "pat": [PEL]})
    dana = ("--role", DBA, "--name", "Dana Lee", "--key", tmp_path / "keys/dana.key")
    assert apex(capsys, "sign", reports, *dana)[0] == 0
    assert apex(capsys, "sign", reports, "--role", PEL, "--name", "Pat Kim", "--key", tmp_path / "keys/pat.key")[0] == 0
    assert _item(load(reports), "2.1.2")["outcome"] == "waived"
    set_failing(pytester, [])  # fixed: the waiver is no longer needed
    result = run(pytester, f"--apex-rerun={reports}")
    result.stdout.fnmatch_lines(["*signatures invalidated (results changed) in section 2*",
                                 "*signatures kept in section 3*"])
    record = load(reports)
    assert _item(record, "2.1.2")["outcome"] == "passed"
    sig2, sig3 = section(record, 2)["signatures"][-1], section(record, 3)["signatures"][-1]
    assert sig2["status"] == "invalidated" and sig2["invalidated_in"] == 2
    assert sig3["status"] == "valid"
    assert next(a for a in record["approvals"] if a["role"] == DBA)["name"] is None
    assert next(a for a in record["approvals"] if a["role"] == PEL)["name"] == "Pat Kim"
    md, html = (reports / "checklist.md").read_text(), (reports / "checklist.html").read_text()
    assert "signature by Dana Lee is invalidated" in html
    assert "Pat Kim" in md and "Pat Kim" in html
    rc, out = apex(capsys, "verify", reports, "--trust", trust)
    assert rc == 1
    assert "section 2 (Database Preparation): the signature by Dana Lee was invalidated by revision 2" in out
    failures = [line for line in out.splitlines() if line.startswith("FAILED:")]
    assert len(failures) == 1 and "section 3" not in failures[0]
    # flipping the status back by hand does not help
    text = (reports / "checklist.json").read_text().replace('"status": "invalidated"', '"status": "valid"   ')
    tampered = tmp_path / "tampered.json"
    tampered.write_text(text.replace('"status": "valid"   ', '"status": "valid"'))
    assert not signing.verify_path(tampered, signing.load_trust(trust)).ok
    # signing again restores it
    assert apex(capsys, "sign", reports, *dana)[0] == 0
    rc, out = apex(capsys, "verify", reports, "--trust", trust)
    assert rc == 0, out


def test_rerun_refuses_a_changed_record(pytester, tmp_path):
    reports = make_project(pytester, failing=["3.1.1"])
    run(pytester)
    path = reports / "checklist.json"
    path.write_text(path.read_text().replace('"outcome": "failed"', '"outcome": "passed"', 1))
    result = run(pytester, f"--apex-rerun={reports}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "does not match its revision id" in result.stderr.str()


def test_plain_lf_keeps_working(pytester):
    make_project(pytester, sections=(2,), failing=["2.1.3"])
    pytester.runpytest()
    result = pytester.runpytest("--lf", "-v")
    result.stdout.fnmatch_lines(["*test_2_1_3 FAILED*"])
    assert "test_2_1_1" not in result.stdout.str()
