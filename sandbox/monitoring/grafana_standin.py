"""A STAND-IN for Grafana's HTTP API, serving dashboards-as-code. It is not Grafana.

Grafana is AGPL and is not run here. This server answers the documented, read-only endpoints
the ``grafana`` target reads, from the Grafana JSON files in a directory:
``/api/health``, ``/api/search``, ``/api/dashboards/uid/<uid>``, ``/api/datasources``.
Every answer carries ``X-Apex-Stand-In: grafana-api``. With ``--token-env VAR`` it requires
``Authorization: Bearer <token>``. One access-log line per request (method, path) goes to stdout.

    python -m sandbox.monitoring.grafana_standin --port 29300 --dashboards monitoring/dashboards \
        --prometheus-url http://127.0.0.1:29090
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

DASHBOARDS: dict[str, dict[str, Any]] = {}
SETTINGS: dict[str, str] = {}
#: uids listed by /api/search but refused by /api/dashboards/uid/ (the drifted stack: not accessible)
FORBIDDEN: set[str] = set()


def load(directory: Path) -> None:
    for path in sorted(directory.glob("*.json")):
        dash = json.loads(path.read_text("utf-8"))
        DASHBOARDS[dash["uid"]] = dash


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "grafana-api-stand-in"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Apex-Stand-In", "grafana-api")
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        print(json.dumps({"ts": time.time(), "method": method, "path": self.path}), flush=True)
        url = urllib.parse.urlsplit(self.path)
        token = SETTINGS.get("token")
        if token and self.headers.get("Authorization") != f"Bearer {token}" and url.path != "/api/health":
            self._reply(401, {"message": "Unauthorized"})
            return
        if method != "GET":
            self._reply(405, {"message": "the stand-in is read-only"})
        elif url.path == "/api/health":
            self._reply(200, {"database": "ok", "version": "stand-in", "commit": "none"})
        elif url.path == "/api/search":
            q = urllib.parse.parse_qs(url.query).get("query", [""])[0].lower()
            self._reply(200, [{"uid": uid, "title": d["title"], "type": "dash-db", "tags": d.get("tags", []),
                               "url": f"/d/{uid}"} for uid, d in DASHBOARDS.items() if q in d["title"].lower()])
        elif url.path.startswith("/api/dashboards/uid/"):
            uid = url.path.rsplit("/", 1)[1]
            if uid in FORBIDDEN:
                self._reply(403, {"message": "Access denied to this dashboard"})
            elif uid in DASHBOARDS:
                self._reply(200, {"dashboard": DASHBOARDS[uid], "meta": {"slug": uid, "url": f"/d/{uid}"}})
            else:
                self._reply(404, {"message": "Dashboard not found"})
        elif url.path == "/api/datasources":
            self._reply(200, [{"uid": "prometheus", "name": "Prometheus", "type": "prometheus",
                               "url": SETTINGS["prometheus_url"], "isDefault": True}])
        else:
            self._reply(404, {"message": "Not found"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dashboards", required=True, type=Path)
    ap.add_argument("--prometheus-url", required=True)
    ap.add_argument("--token-env", default="")
    ap.add_argument("--forbid", default="", help="comma-separated uids listed but answered 403")
    args = ap.parse_args(argv)
    FORBIDDEN.update(filter(None, args.forbid.split(",")))
    load(args.dashboards)
    SETTINGS["prometheus_url"] = args.prometheus_url
    if args.token_env:
        SETTINGS["token"] = os.environ[args.token_env]
    server = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
