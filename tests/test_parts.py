"""An item proven in parts: several checks claim one item, one per named part (pytester projects)."""

from __future__ import annotations

import pytest

from pytest_apexready import load_catalog


def _parts(item: dict) -> dict[str, dict]:
    """The record's parts of an item by name (optional field "parts")."""
    return {p["name"]: p for p in item.get("parts", [])}


def _notes(item: dict) -> list[str]:
    entries = list(item["evidence"]) + [e for p in item.get("parts", []) for e in p.get("evidence", [])]
    return [e["value"] for e in entries if e["name"] == "note"]


def test_catalog_declares_the_halves_that_exist():
    catalog = load_catalog()
    declared = {i.id: [(p.name, p.component) for p in i.parts] for i in catalog.items if i.parts}
    assert declared["1.1.2"] == [("postgres", "postgres"), ("aws", "aws")]
    assert declared["3.1.4"] == [("k8s", "k8s"), ("http", "http")]
    assert {"1.1.1", "1.1.4", "1.3.5"} <= set(declared)
    entry = catalog.get("1.1.2")
    assert entry is not None and entry.components_of("aws") == ("aws",)
    assert entry.components_of(None) == entry.components


def test_a_declared_part_without_a_check_is_not_automated_never_passed(project):
    project.pytester.makepyfile(test_checks="""
        from pytest_apexready import check
        @check("1.1.2", part="postgres")
        def test_db(): pass
    """)
    result = project.pytester.runpytest("-m", "infra", "-p", "no:cacheprovider", "-ra", "--junitxml=junit.xml")
    assert result.ret == 1
    item = project.items()["1.1.2"]
    assert item["outcome"] == "not_automated"
    assert "part aws" in item["reason"]
    result.stdout.fnmatch_lines(["NOT AUTOMATED 1.1.2 part aws PostgreSQL - the RDS instance has MultiAZ*"])
    xml = (project.path / "junit.xml").read_text()
    assert 'name="apex_part" value="aws"' in xml and 'name="apex_part" value="postgres"' in xml


def test_an_absent_part_is_left_out_with_its_reason(project):
    project.write("environments/local.toml", 'description = "x"\n[absent]\naws = "self-hosted, no AWS account"\n')
    project.pytester.makepyfile(test_checks="""
        from pytest_apexready import check
        @check("1.1.2", part="postgres")
        def test_db(): pass
    """)
    result = project.pytester.runpytest("-m", "infra", "-p", "no:cacheprovider", "-ra")
    item = project.items()["1.1.2"]
    assert item["outcome"] == "passed", item
    assert "part aws left out: aws is absent in profile local: self-hosted, no AWS account" in _notes(item)
    result.stdout.fnmatch_lines(["*NOT APPLICABLE 1.1.2 part aws PostgreSQL - aws is absent in profile local:*"])


def test_the_item_is_not_applicable_only_when_every_part_is(project):
    project.write("environments/local.toml",
                  'description = "x"\n[absent]\naws = "no AWS"\npostgres = "no database here"\n')
    project.pytester.makepyfile(test_checks="""
        from pytest_apexready import check
        @check("1.1.2", part="postgres")
        def test_db(): raise AssertionError("never runs")
    """)
    project.pytester.runpytest("-m", "infra", "-p", "no:cacheprovider")
    assert project.items()["1.1.2"]["outcome"] == "not_applicable"


def test_the_worst_part_decides(project):
    project.pytester.makepyfile(test_checks="""
        from pytest_apexready import check, fail_check
        @check("2.1.1", part="schema")
        def test_schema(): pass
        @check("2.1.1", part="data")
        def test_data():
            fail_check("seed rows", observed=0, expected="> 0", where="SELECT count(*) on postgres")
    """)
    project.pytester.runpytest("-m", "database", "-p", "no:cacheprovider")
    item = project.items()["2.1.1"]
    assert item["outcome"] == "failed"
    assert "seed rows: observed 0; expected > 0; read from SELECT count(*) on postgres" in item["reason"]
    if "parts" in item:  # the record's optional field
        assert {n: p["outcome"] for n, p in _parts(item).items()} == {"schema": "passed", "data": "failed"}


@pytest.mark.parametrize(("source", "message"), [
    ('@check("2.1.1", part="a")\ndef test_a(): pass\n@check("2.1.1", part="a")\ndef test_b(): pass\n',
     "*part a of checklist item 2.1.1 is claimed by more than one check*test_a*test_b*"),
    ('@check("2.1.1")\ndef test_a(): pass\n@check("2.1.1", part="b")\ndef test_b(): pass\n',
     "*checklist item 2.1.1 is claimed whole and in parts (b)*"),
    ('@check("1.1.2", part="rds")\ndef test_a(): pass\n',
     "*claims part 'rds' of 1.1.2; the catalog declares its parts as postgres, aws*"),
    ('@check("1.1.2")\ndef test_a(): pass\n',
     "*claims 1.1.2 whole, but the catalog declares it in parts (postgres, aws)*part=\"postgres\"*"),
    ('@check("2.1.1", part="a")\n@check("2.1.2")\ndef test_a(): pass\n',
     "*test_a is attached to *; attach a test to exactly one item*"),
])
def test_claims_that_cannot_stand_fail_collection(project, source, message):
    project.pytester.makepyfile(test_checks="from pytest_apexready import check\n" + source)
    result = project.pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


SELF_HOSTED = 'description = "x"\n[absent]\naws = "self-hosted PostgreSQL, no AWS account"\n'
RETENTION_CHECKS = """
    from pytest_apexready import check
    @check("2.1.6", part="postgres")
    def test_wal_archiving(): pass
    @check("2.1.6", part="aws")
    def test_rds_retention(): raise AssertionError("never runs: aws is absent")
"""


def test_a_clause_that_still_applies_without_its_component_awaits_attestation(project):
    """2.1.6's 30 days on a self-hosted server: never n/a, never passed on WAL archiving alone."""
    project.write("environments/local.toml", SELF_HOSTED)
    project.pytester.makepyfile(test_checks=RETENTION_CHECKS)
    result = project.pytester.runpytest("-m", "database", "-p", "no:cacheprovider", "-ra")
    assert result.ret == 1
    item = project.items()["2.1.6"]
    assert item["outcome"] == "awaiting_attestation", item
    assert _parts(item)["aws"]["outcome"] == "awaiting_attestation"
    assert _parts(item)["postgres"]["outcome"] == "passed"
    assert 'item = "2.1.6[aws]"' in item["reason"]


def test_the_attested_clause_ticks_the_part(project):
    project.write("environments/local.toml", SELF_HOSTED)
    project.write("attestations/local.toml", """
[[attestation]]
item = "2.1.6[aws]"
attested_by = "Dana Lee (Database Admin)"
date = 2026-11-20
evidence = "pgBackRest repo1-retention-full=30, https://wiki.example.com/backups"
expires = 2099-01-01
""")
    project.pytester.makepyfile(test_checks=RETENTION_CHECKS)
    project.pytester.runpytest("-m", "database", "-p", "no:cacheprovider")
    item = project.items()["2.1.6"]
    assert _parts(item)["aws"]["outcome"] == "attested", item
    assert item["outcome"] == "attested"
    assert not project.record()["problems"]
