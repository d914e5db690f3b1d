#!/usr/bin/env bash
# Install what the local sandbox (`python -m sandbox up`) and the test suite need.
# Run as root on Debian 12. Idempotent: quick when everything is already present.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO_ROOT="$(pwd)"

PYTHON="${PYTHON:-python3}"
# One list: each sandbox part's packages (sandbox/parts.py PARTS) and the self-tests' (its SELFTESTS); stdlib only.
read -ra DEB_PACKAGES <<< "$(python3 -m sandbox.parts --debian)"
[ "${#DEB_PACKAGES[@]}" -gt 0 ] || { echo "python3 -m sandbox.parts --debian listed no packages" >&2; exit 1; }

log() { printf '[bootstrap] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap.sh must run as root (it installs Debian packages)" >&2
    exit 1
fi

# ---------------------------------------------------------------- Debian packages
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = "installed" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps the packages' own services (postgresql@15-main, redis-server, pgbouncer)
    # from starting: the sandbox runs its own instances on its own ports.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if [ "$created_policy" = 1 ]; then rm -f "$policy"; trap - EXIT; fi
else
    log "Debian packages present: ${DEB_PACKAGES[*]}"
fi

# ---------------------------------------------------------------- Python packages
if [ -f pyproject.toml ]; then
    stamp_dir="$REPO_ROOT/.sandbox"
    stamp="$stamp_dir/.bootstrap-pyproject.sha256"
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [ "$want" = "$have" ] && "$PYTHON" -c 'import pytest_apexready, psycopg, redis, chdb' 2>/dev/null; then
        log "Python package up to date (pip install -e '.[dev]' done for this pyproject.toml)"
    else
        log "pip install -e '.[dev]'"
        "$PYTHON" -m pip install -q --root-user-action=ignore -e '.[dev]'
        mkdir -p "$stamp_dir"
        echo "$want" > "$stamp"
    fi
else
    log "no pyproject.toml: installing the sandbox's own Python modules"
    "$PYTHON" -m pip install -q --root-user-action=ignore 'psycopg[binary]>=3.1' 'redis>=5.0' 'chdb>=3.0'
fi

"$PYTHON" -m sandbox deps
