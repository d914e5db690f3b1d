"""Alertmanager over its v2 HTTP API (requests): the loaded configuration and the active alerts.

Read-only: only GETs. The checker never creates silences or alerts (the self-test proves it).
``/api/v2/status`` carries the configuration as YAML text, with every secret shown as ``<secret>``.
"""

from __future__ import annotations

from typing import Any

from .prometheus import HttpApi

__all__ = ["Alertmanager"]


class Alertmanager(HttpApi):
    """``[targets.alertmanager]``: ``/api/v2/status`` and ``/api/v2/alerts``, each read once per run."""

    probe_path = "/api/v2/status"
    api = "Alertmanager"

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self._status: dict[str, Any] | None = None
        self._alerts: list[dict[str, Any]] | None = None

    def status(self) -> dict[str, Any]:
        if self._status is None:
            self._status = dict(self.get_json("/api/v2/status"))
        return self._status

    def config(self) -> dict[str, Any]:
        """The configuration Alertmanager runs with, parsed from the YAML of ``/api/v2/status``."""
        import yaml

        parsed = yaml.safe_load(self.status().get("config", {}).get("original", "") or "{}")
        return parsed if isinstance(parsed, dict) else {}

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts firing now: active, neither silenced nor inhibited."""
        if self._alerts is None:
            self._alerts = list(self.get_json("/api/v2/alerts", {"active": "true", "silenced": "false",
                                                                 "inhibited": "false", "unprocessed": "false"}))
        return self._alerts
