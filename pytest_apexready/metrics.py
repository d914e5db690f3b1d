"""The checklist as Prometheus metrics: ``--apex-metrics FILE`` writes the text exposition format.

Point node exporter's textfile collector at the file (``--collector.textfile.directory``; the file name
must end in ``.prom``) and the checklist's state can be alerted on and drawn like any other metric:

``apexready_item_outcome{env,section,item,outcome}``
    1 for each item, labelled with its current outcome (one series per item: ``sum by (outcome)`` counts,
    ``apexready_item_outcome{outcome="failed"} == 1`` alerts).
``apexready_section_ready{env,section}``
    1 when the section is ready to sign, else 0.
``apexready_items{env,outcome}``
    items per outcome, every outcome listed (zeros included).
``apexready_run_timestamp_seconds{env}``
    when the run finished (Unix time): ``time() - apexready_run_timestamp_seconds > 86400`` says the
    checklist stopped running. Labelled with env so that several environments may share one collector.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest, write_to_textfile

from . import outcomes as oc

__all__ = ["build_registry", "render_metrics", "write_metrics"]


def build_registry(record: dict[str, Any]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    env = str(record["environment"]["name"])
    item_outcome = Gauge("apexready_item_outcome", "Checklist item outcome (1 for the current outcome)",
                         ["env", "section", "item", "outcome"], registry=registry)
    section_ready = Gauge("apexready_section_ready", "1 when the checklist section is ready to sign",
                          ["env", "section"], registry=registry)
    items = Gauge("apexready_items", "Checklist items per outcome", ["env", "outcome"], registry=registry)
    stamp = Gauge("apexready_run_timestamp_seconds", "When the checklist run finished (Unix time)", ["env"],
                  registry=registry)
    counts = dict.fromkeys((o.value for o in oc.OUTCOMES), 0)
    for sec in record["sections"]:
        section = str(sec["number"])
        section_ready.labels(env, section).set(1 if sec["ready"] else 0)
        for group in sec["groups"]:
            for item in group["items"]:
                item_outcome.labels(env, section, item["id"], item["outcome"]).set(1)
                counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
    for outcome, n in counts.items():
        items.labels(env, outcome).set(n)
    finished = dt.datetime.fromisoformat(record["run"]["finished"])
    stamp.labels(env).set(finished.timestamp())
    return registry


def render_metrics(record: dict[str, Any]) -> str:
    return generate_latest(build_registry(record)).decode("utf-8")


def write_metrics(record: dict[str, Any], path: Path) -> Path:
    """Write atomically (prometheus_client writes a temporary file and renames it), as the collector wants."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), build_registry(record))
    return path
