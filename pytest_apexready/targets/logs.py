"""The log store: VictoriaLogs (LogsQL) or Loki (LogQL), over their HTTP query APIs (requests).

``flavour = "victorialogs"`` (the sandbox's; Apache-2.0): ``/select/logsql/query``.
``flavour = "loki"``: ``/loki/api/v1/query_range`` and ``/loki/api/v1/labels``. The Loki flavour
is written to Loki's documented API and has NOT been run against a real Loki here (Loki is AGPL
and is not run in the sandbox); the README says so.

Read-only: GETs, and POSTs to VictoriaLogs' query endpoint.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..outcomes import TargetUnavailable
from .prometheus import HttpApi, QueryError

__all__ = ["FLAVOURS", "Logs", "seconds"]

FLAVOURS = ("victorialogs", "loki")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(duration: str) -> float:
    """``"15m"`` -> 900.0 (Prometheus-style durations: s, m, h, d, w)."""
    text = duration.strip()
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].replace(".", "", 1).isdigit():
        raise ValueError(f"{duration!r} is not a duration like 15m, 1h or 7d")
    return float(text[:-1]) * _UNITS[text[-1]]


class Logs(HttpApi):
    """``[targets.logs]``: how many lines each service logged within a window."""

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.flavour = str(settings.get("flavour", "victorialogs"))
        self.label = str(settings.get("service_label", "service"))
        self.api = "VictoriaLogs" if self.flavour == "victorialogs" else "Loki"
        self.probe_path = "/loki/api/v1/labels" if self.flavour == "loki" else "/select/logsql/field_names"
        self._counts: dict[str, dict[str, int]] = {}

    def _connect(self) -> Any:
        if self.flavour not in FLAVOURS:
            raise TargetUnavailable(self.name, f"[targets.{self.name}] flavour",
                                    f"flavour {self.flavour!r} is unknown; fix: flavour = one of {list(FLAVOURS)}")
        return super()._connect()

    def _probe_read(self) -> None:
        params = {"query": "*", "start": "5m"} if self.flavour == "victorialogs" else None
        self.request("GET", self.probe_path, params=params)

    def query_text(self, window: str) -> str:
        if self.flavour == "victorialogs":
            return f"_time:{window} | stats by ({self.label}) count() lines"
        return f'sum by ({self.label}) (count_over_time({{{self.label}=~".+"}}[{window}]))'

    def lines_by_service(self, window: str) -> dict[str, int]:
        """service -> lines stored within ``window`` (e.g. "15m"), one query per window per run."""
        if window in self._counts:
            return self._counts[window]
        query = self.query_text(window)
        counts: dict[str, int] = {}
        if self.flavour == "victorialogs":
            resp = self.request("POST", "/select/logsql/query", data={"query": query})
            if resp.status_code != 200:
                raise QueryError(f"HTTP {resp.status_code}: {resp.text[:200]}")
            for line in resp.text.splitlines():
                if line.strip():
                    row = json.loads(line)
                    counts[str(row.get(self.label, ""))] = int(row.get("lines", 0))
        else:
            end = time.time()
            span = seconds(window)
            resp = self.request("GET", "/loki/api/v1/query_range",
                                params={"query": query, "start": f"{int((end - span) * 1e9)}",
                                        "end": f"{int(end * 1e9)}", "step": f"{int(span)}s"})
            body = resp.json() if resp.status_code == 200 else {}
            if body.get("status") != "success":
                raise QueryError(f"HTTP {resp.status_code}: {resp.text[:200]}")
            for series in body["data"]["result"]:
                svc = str(series.get("metric", {}).get(self.label, ""))
                counts[svc] = counts.get(svc, 0) + int(max(float(v) for _, v in series["values"]))
        self._counts[window] = counts
        return counts
