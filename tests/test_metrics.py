"""``--apex-metrics FILE``: the Prometheus text exposition, checked with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

CHECKS = """
from pytest_apexready import check, fail_check

@check("2.1.1")
def test_migrations():
    pass

@check("2.1.2")
def test_indexes():
    fail_check("indexes", observed=3, expected="at least 5", where="pg_indexes on postgres")
"""


def test_metrics_file_parses_and_carries_the_checklist(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest("-m", "database", "--apex-metrics", "metrics/apexready.prom", "-p", "no:cacheprovider")
    text = (project.path / "metrics" / "apexready.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) >= {"apexready_item_outcome", "apexready_section_ready", "apexready_items",
                             "apexready_run_timestamp_seconds"}
    outcome = {s.labels["item"]: s for s in families["apexready_item_outcome"].samples}
    assert len(outcome) == 160
    assert outcome["2.1.1"].labels == {"env": "local", "section": "2", "item": "2.1.1", "outcome": "passed"}
    assert outcome["2.1.2"].labels["outcome"] == "failed" and outcome["2.1.2"].value == 1
    assert outcome["9.3.1"].labels["outcome"] == "not_run"
    ready = {s.labels["section"]: s.value for s in families["apexready_section_ready"].samples}
    assert ready["2"] == 0 and len(ready) == 11
    items = {s.labels["outcome"]: s.value for s in families["apexready_items"].samples}
    record = project.record()
    assert items == {"not_yet_due": 0.0, **{k: float(v) for k, v in record["summary"]["outcomes"].items()}}
    assert items["failed"] == 1 and sum(items.values()) == 160
    (stamp,) = families["apexready_run_timestamp_seconds"].samples
    assert stamp.labels == {"env": "local"} and stamp.value > 1.7e9
