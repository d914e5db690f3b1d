#!/usr/bin/env bash
# Lint and type-check the whole tree, as configured in pyproject.toml ([tool.ruff], [tool.mypy]).
#   bash scripts/lint.sh
# Runs both tools even when the first one fails, so one run shows every problem; exits non-zero if either failed.
# scripts/bootstrap.sh installs both (dev extras).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

rc=0
echo "[lint] ruff check ."
"$PYTHON" -m ruff check . || rc=1
echo "[lint] mypy"
"$PYTHON" -m mypy || rc=1
if [ "$rc" -ne 0 ]; then
    echo "[lint] FAILED (fix the problems above; \`ruff check --fix FILE...\` on your own files handles the mechanical ones)" >&2
fi
exit "$rc"
