#!/usr/bin/env bash
# The README's test command: everything the plugin's self-tests need, on a fresh Debian 12 machine (as root).
#   bash scripts/test.sh [extra pytest args]
# 1. installs Debian and Python packages (scripts/bootstrap.sh, idempotent),
# 2. runs ruff and mypy (scripts/lint.sh): a lint or type error fails the run,
# 3. starts the local sandbox (python -m sandbox up, idempotent),
# 4. runs the self-tests in tests/ (several start their own non-compliant servers),
# 5. stops the sandbox again if this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

bash scripts/bootstrap.sh

# Lint first: a lint or type error fails CI before the sandbox is started.
bash scripts/lint.sh

started=0
if ! "$PYTHON" -m sandbox status >/dev/null 2>&1; then
    started=1
fi
"$PYTHON" -m sandbox up
if [ "$started" = 1 ] && [ -z "${APEX_KEEP_SANDBOX:-}" ]; then
    trap '"$PYTHON" -m sandbox down' EXIT
fi

"$PYTHON" -m pytest tests -p no:cacheprovider -n 2 --dist loadfile -ra "$@"
