"""Build VictoriaLogs (Apache-2.0; Loki is AGPL and is not used) from source, cached like the Kubernetes binaries.

``go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.1`` into
``$APEX_VLOGS_CACHE`` (default ``<repo>/.cache/victorialogs/bin``)/victoria-logs-<version>/.
About 2 minutes on 2 cores with a cold Go module cache, nothing once cached.

    python -m sandbox.monitoring.build
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..kube.build import BuildError, go_env

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSION = os.environ.get("APEX_VLOGS_VERSION", "v1.52.1")
PACKAGE = "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs"


def cache_dir() -> Path:
    return Path(os.environ.get("APEX_VLOGS_CACHE") or REPO_ROOT / ".cache" / "victorialogs" / "bin").resolve()


def victorialogs_binary(version: str = VERSION) -> Path:
    out = cache_dir() / f"victoria-logs-{version}"
    binary = out / "victoria-logs"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    env = go_env(cache_dir())
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env["GOBIN"] = str(tmp)
    t0 = time.time()
    print(f"[vlogs-build] go install {PACKAGE}@{version} (about 2 minutes the first time)", flush=True)
    res = subprocess.run(["go", "install", "-trimpath", "-ldflags", "-s -w", f"{PACKAGE}@{version}"],
                         env=env, cwd=tmp, capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"go install {PACKAGE}@{version} failed:\n{res.stderr[-3000:]}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"[vlogs-build] built in {time.time() - t0:.0f}s: {binary}", flush=True)
    return binary


if __name__ == "__main__":
    print(victorialogs_binary())
    sys.exit(0)
