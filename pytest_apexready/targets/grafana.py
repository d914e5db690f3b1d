"""Dashboards: Grafana's HTTP API (requests), or dashboards as code in a directory.

``url``: ``/api/health``, ``/api/search?type=dash-db``, ``/api/dashboards/uid/<uid>``,
``/api/datasources`` (GETs only; a service-account token through ``token = "${VAR}"``). The
sandbox serves these from a STAND-IN (Grafana is AGPL and is not run): see the README.
``dashboards_dir``: the Grafana JSON files themselves, for teams that keep dashboards as code.
Either way the checks evaluate each panel's PromQL against ``[targets.prometheus]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..outcomes import TargetUnavailable
from .prometheus import HttpApi

__all__ = ["Grafana"]


class Grafana(HttpApi):
    """``[targets.grafana]``: the dashboards, read once per run."""

    probe_path = "/api/search"
    api = "Grafana API"

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.directory = Path(str(settings["dashboards_dir"])) if settings.get("dashboards_dir") else None
        self._dashboards: dict[str, dict[str, Any]] | None = None
        #: uid -> why it could not be read (HTTP status), for "accessible"
        self.unreadable: dict[str, str] = {}
        self.stand_in = False

    @property
    def where(self) -> str:
        return f"dashboards in {self.directory}" if self.directory else super().where

    def _connect(self) -> Any:
        if self.directory is not None:
            if not self.directory.is_dir():
                raise TargetUnavailable(self.name, str(self.directory), "dashboards_dir is not a directory; fix: "
                                        f"point [targets.{self.name}] dashboards_dir at the Grafana JSON files")
            return self.directory
        return super()._connect()

    def _probe_read(self) -> None:
        if self.directory is None:
            self.request("GET", self.probe_path, params={"limit": "1"})

    def health(self) -> dict[str, Any]:
        if self.directory is not None:
            return {"database": "ok", "source": str(self.directory)}
        resp = self.request("GET", "/api/health")
        self.stand_in = resp.headers.get("X-Apex-Stand-In") == "grafana-api"
        return dict(resp.json()) if resp.status_code == 200 else {"http_status": resp.status_code}

    def dashboards(self) -> dict[str, dict[str, Any]]:
        """uid -> dashboard JSON, for every dashboard the API lists (or every file of dashboards_dir)."""
        if self._dashboards is not None:
            return self._dashboards
        found: dict[str, dict[str, Any]] = {}
        if self.directory is not None:
            self.client()
            for path in sorted(self.directory.glob("*.json")):
                dash = json.loads(path.read_text("utf-8"))
                found[str(dash.get("uid") or path.stem)] = dash
        else:
            listed = self.get_json("/api/search", {"type": "dash-db", "limit": "5000"})
            for entry in listed:
                uid = str(entry["uid"])
                resp = self.request("GET", f"/api/dashboards/uid/{uid}", allow=(403,))
                if resp.status_code == 200:
                    found[uid] = dict(resp.json()["dashboard"])
                else:
                    self.unreadable[uid] = f"GET /api/dashboards/uid/{uid} answered HTTP {resp.status_code}"
        self._dashboards = found
        return found

    def datasources(self) -> list[dict[str, Any]]:
        if self.directory is not None:
            return []
        return list(self.get_json("/api/datasources"))
