"""The typed record: built from a run's results, written and read back unchanged, rendered the same way everywhere."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_apexready.catalog import load_catalog
from pytest_apexready.html import render_html
from pytest_apexready.outcomes import Finding, Outcome
from pytest_apexready.record import (
    EvidenceEntry,
    ProducedBy,
    Record,
    RecordError,
    Revision,
    RevisionHeader,
    Signature,
    build_record,
)
from pytest_apexready.records import Attestation, Records, Waiver
from pytest_apexready.redact import Redactor
from pytest_apexready.report import render_markdown, terminal_summary

STARTED = dt.datetime(2026, 11, 20, 9, 0, 0, tzinfo=dt.UTC)
PG_OLD = {"what": "server_version", "observed": "14.9", "expected": ">= 15", "where": "SHOW server_version on db-2"}
LINE = "server_version: observed 14.9; expected >= 15; read from SHOW server_version on db-2"


def _phase(outcome: str, reason: str = "", findings: list[dict[str, str]] | None = None,
           waived_from: str | None = None) -> dict[str, Any]:
    return {"outcome": outcome, "reason": reason, "waived_from": waived_from, "findings": findings or []}


def _result(nodeid: str, item: str, part: str | None, evidence: list[dict[str, Any]] | None = None,
            **phases: dict[str, Any]) -> dict[str, Any]:
    return {"nodeid": nodeid, "item": item, "part": part, "duration": 0.01, "evidence": evidence or [],
            "phases": {"setup": _phase("passed"), **phases}}


def _session(tmp_path: Path, results: list[dict[str, Any]], records: Records | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        catalog=load_catalog(), profile=None, env_name="local", records=records or Records({}, {}, [], {}),
        results={r["nodeid"]: r for r in results}, started=STARTED, redactor=Redactor(),
        config=SimpleNamespace(rootpath=tmp_path, invocation_params=SimpleNamespace(args=("-m", "database"))))


def _built(tmp_path: Path) -> Record:
    """1.1.2 in parts: postgres (two instances, one failing with a finding), aws (absent: n/a); 2.1.1 whole."""
    results = [
        _result("t.py::test_pg[primary]", "1.1.2", "postgres",
                [{"name": "server_version", "value": ("15.4",), "source": "SHOW server_version on db-1"}],
                call=_phase("passed")),
        _result("t.py::test_pg[replica]", "1.1.2", "postgres",
                [{"name": "note", "value": "Multi-AZ is the aws part", "source": ""}],
                call=_phase("failed", LINE, [PG_OLD])),
        _result("t.py::test_rds", "1.1.2", "aws",
                setup=_phase("not_applicable", "aws is absent in profile local: no AWS here")),
        _result("t.py::test_migrations", "2.1.1", None,
                [{"name": "versions", "value": ["001", "014"], "source": "SELECT version FROM schema_migrations"}],
                call=_phase("passed")),
    ]
    return build_record(_session(tmp_path, results), STARTED + dt.timedelta(seconds=3))


def test_an_item_in_parts_is_the_worst_of_its_parts_and_instances(tmp_path):
    record = _built(tmp_path)
    item = record.item("1.1.2")
    assert item.outcome is Outcome.FAILED and not item.checked
    assert [(p.name, p.component, p.outcome) for p in item.parts] == [
        ("postgres", "postgres", Outcome.FAILED), ("aws", "aws", Outcome.NOT_APPLICABLE)]
    pg, aws = item.parts
    assert pg.findings == (Finding(**PG_OLD),) and item.findings == pg.findings
    assert [t.nodeid for t in pg.tests] == ["t.py::test_pg[primary]", "t.py::test_pg[replica]"]
    assert [e.name for e in pg.evidence] == ["server_version", "note"]
    assert aws.reason == "aws is absent in profile local: no AWS here"
    assert item.reason == f"part postgres: {LINE}"
    assert record.section(1).blocking[:1] == ["1.1.1"] and "1.1.2" in record.section(1).blocking
    # an item of one piece keeps exactly the old layout: no "parts", no "findings"
    whole = record.item("2.1.1").to_json()
    assert whole["outcome"] == "passed" and "parts" not in whole and "findings" not in whole
    assert whole["evidence"][0]["value"] == ["001", "014"]
    # n/a only when every part is
    only_aws = build_record(_session(tmp_path, [
        _result("t.py::test_rds", "1.1.2", "aws", setup=_phase("not_applicable", "no AWS"))]), STARTED)
    assert only_aws.item("1.1.2").outcome is Outcome.NOT_APPLICABLE


def test_parse_of_serialise_gives_the_same_record_and_bytes(tmp_path):
    record = _built(tmp_path)
    item = record.item("2.1.1")
    sigs = (Signature("Database Admin", "Dana Lee", "2026-11-20T10:00:00Z", "sha256:ab", "valid", 1, {"e": 1}),
            Signature("Database Admin", "Dana Lee", "2026-11-19T10:00:00Z", "sha256:ab", "invalidated", 1,
                      {"e": 2}, invalidated_in=2),
            Signature("Database Admin", "Mal", "2026-11-21T10:00:00Z", "sha256:cd", None, 2, {"e": 3}))
    sec2 = dataclasses.replace(record.section(2), signatures=sigs)
    record = record.with_section(sec2).map_items(lambda i: dataclasses.replace(
        i, produced_by=ProducedBy(2, "2026-11-20T09:00:00+00:00"),
        waiver=Waiver(i.id, "ticket OPS-1", "Dana (DBA)", "2099-12-31") if i.id == "2.1.2" else None,
        attestation=Attestation(i.id, "Sam", "2026-11-01", "wiki", "2099-01-01") if i.id == "9.3.1" else None,
        expired_record={"kind": "waiver", "item": i.id, "expires": "2020-01-01"} if i.id == "2.1.3" else None))
    record = dataclasses.replace(record, revision=Revision(2, "sha256:2", "sha256:1"), revisions=(
        RevisionHeader(Revision(1, "sha256:1", None), record.environment, record.run),))
    text = record.text()
    again = Record.loads(text)
    assert again == record and again.text() == text
    assert again.item("2.1.1") == dataclasses.replace(item, produced_by=ProducedBy(2, "2026-11-20T09:00:00+00:00"))
    doc = json.loads(text)
    assert list(doc)[-2:] == ["revisions", "revision"] and list(doc["revision"]) == ["number", "previous", "id"]
    assert "status" not in doc["sections"][1]["signatures"][2]
    assert doc["summary"]["outcomes"] == {o.value: n for o, n in record.summary.outcomes.items()
                                          if n or o is not Outcome.NOT_YET_DUE}


def test_parse_refuses_what_it_would_not_write_back(tmp_path):
    doc = _built(tmp_path).to_json()
    doc["sections"][1]["counts"]["passed"] += 1
    with pytest.raises(RecordError, match=r"sections\[1\]\.counts\.passed differs"):
        Record.parse(doc)
    doc = _built(tmp_path).to_json()
    doc["sections"][0]["groups"][0]["items"][0]["colour"] = "red"
    with pytest.raises(RecordError, match=r"items\[0\]\.colour is unknown"):
        Record.parse(doc)
    assert Record.parse(doc, strict=False) == _built(tmp_path)  # the verifier's lenient reading
    with pytest.raises(RecordError, match=r"not an apexready\.checklist/v1 record"):
        Record.parse({"schema": "something/v2"})


def test_signature_is_valid_is_the_one_rule(tmp_path):
    def sig(status: str | None, name: str, date: str) -> Signature:
        return Signature("Database Admin", name, date, "sha256:" + name, status, 1, {},
                         invalidated_in=2 if status == "invalidated" else None)

    assert sig("valid", "a", "d").is_valid
    assert not sig("invalidated", "a", "d").is_valid
    assert not sig(None, "a", "d").is_valid  # no status: never written by this tool, never counted
    assert not sig("VALID", "a", "d").is_valid
    record = _built(tmp_path)
    sec = dataclasses.replace(record.section(2), signatures=(
        sig("valid", "Dana", "2026-11-01T00:00:00Z"), sig(None, "Mal", "2026-11-02T00:00:00Z")))
    record = record.with_section(sec)
    assert record.section(2).latest_valid is not None and record.section(2).latest_valid.name == "Dana"
    row = next(a for a in record.approvals if a.role == "Database Admin")
    assert (row.name, row.date) == ("Dana", "2026-11-01T00:00:00Z")
    md, html = render_markdown(record), render_html(record)
    for text in (md, html):
        assert "signature by Mal is without a valid status (not counted)" in text
    only_unstated = record.with_section(dataclasses.replace(sec, signatures=(sig(None, "Mal", "d"),)))
    assert only_unstated.section(2).latest_valid is None
    assert next(a for a in only_unstated.approvals if a.role == "Database Admin").name is None
    assert "**Sign-off:** _________________ (Database Admin) — NOT READY" in render_markdown(only_unstated)


class _Terminal:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def section(self, title: str, **_: Any) -> None:
        self.lines.append(f"== {title}")

    def write_line(self, line: str, **_: Any) -> None:
        self.lines.append(line)


def test_findings_and_parts_render_the_same_way_in_md_html_and_terminal(tmp_path):
    record = _built(tmp_path)
    md, html = render_markdown(record), render_html(record)
    tr = _Terminal()
    terminal_summary(record, tr, [])
    term = "\n".join(tr.lines)
    for text in (md, html, term):
        assert LINE.replace(">", "&gt;" if text is html else ">") in text
        assert text.count(LINE.replace(">", "&gt;" if text is html else ">")) == 1  # not repeated by the reason
    # each part's outcome under its item, with its own evidence (md, html)
    assert "  - part **postgres** (postgres): *FAILED*" in md
    assert "  - part **aws** (aws): *not applicable*" in md
    assert "    - evidence `server_version` = `[\"15.4\"]` (from SHOW server_version on db-1)" in md
    assert "    - note: Multi-AZ is the aws part" in md
    assert '<div class="part" data-part="postgres" data-outcome="failed"' in html
    assert '<div class="part" data-part="aws" data-outcome="not_applicable"' in html
    assert '<div class="note">Multi-AZ is the aws part</div>' in html
    assert f"  1.1.2 {record.item('1.1.2').title}: FAILED (part postgres: FAILED; part aws: not applicable)" in term
    assert f"      postgres: {LINE}" in term


def test_a_record_needs_no_catalog_to_render_or_derive_approvals(tmp_path, monkeypatch):
    text = _built(tmp_path).text()
    from pytest_apexready import catalog

    monkeypatch.setattr(catalog, "load_catalog", lambda: pytest.fail("the record must not read the catalog"))
    record = Record.loads(text)
    assert record.approval_roles[:2] == ("Platform Engineering Lead", "Database Admin")
    assert [a.to_json() for a in record.approvals] == json.loads(text)["approvals"]
    render_markdown(record)
    render_html(record)


def test_evidence_entries_keep_their_json_values():
    entry = EvidenceEntry("x", {"a": [1, 2.5, None, True]}, "src")
    assert entry.to_json() == {"name": "x", "value": {"a": [1, 2.5, None, True]}, "source": "src"}
