#!/usr/bin/env bash
# The README's main job: run the whole checklist against the local sandbox and write reports/.
#   bash scripts/check-local.sh [extra pytest args, e.g. -m database]
# Installs what is missing, starts the sandbox (idempotent; it stays up afterwards:
# `python -m sandbox down` stops it), then runs `pytest --env local`.
# Exit status is pytest's: 0 only when every selected item is passed, waived, attested or n/a.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

bash scripts/bootstrap.sh
"$PYTHON" -m sandbox up
# real request rates, error rate and p95 for 10.3.x and the dashboards (bounded: 15 s, 127.0.0.1 only)
"$PYTHON" -m sandbox traffic --seconds 15
# --apex-metrics: the checklist's own state, scraped by the sandbox's Prometheus (node exporter's textfile collector)
exec "$PYTHON" -m pytest --env local --apex-metrics=.sandbox/monitoring/textfile/apexready.prom "$@"
