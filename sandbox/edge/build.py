"""npm dependencies and the console's production build, each done once and cached.

- ``npm ci`` per Node package (api/, console/) from its committed package-lock.json, with npm's own
  cache in the user's ~/.npm; skipped while node_modules/.apex-lock-sha256 matches the lock file.
- ``next build`` of the console in .cache/edge/console-<hash>/, where the hash covers the console's
  sources, its lock file and the build-time environment; a finished build is reused as it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..common import REPO_ROOT, SandboxError

EDGE_SRC = REPO_ROOT / "sandbox" / "edge"
CACHE = Path(os.environ.get("APEX_EDGE_CACHE", REPO_ROOT / ".cache" / "edge"))
CONSOLE_SOURCES = ("app", "next.config.js", "package.json", "package-lock.json")


def _sha256(paths: list[Path], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(str(path.relative_to(EDGE_SRC)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def npm_ci(package: str, log: Callable[[str], None]) -> Path:
    """node_modules of sandbox/edge/<package>, installed from its lock file unless already current."""
    pkg = EDGE_SRC / package
    lock = pkg / "package-lock.json"
    stamp = pkg / "node_modules" / ".apex-lock-sha256"
    want = _sha256([lock])
    if stamp.exists() and stamp.read_text().strip() == want:
        return pkg / "node_modules"
    npm = shutil.which("npm")
    if not npm:
        raise SandboxError("npm is not installed (Debian: nodejs, npm); run `bash scripts/bootstrap.sh`")
    log(f"npm ci in sandbox/edge/{package} (npm cache: ~/.npm)")
    t0 = time.monotonic()
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=pkg, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900, check=False)
    if proc.returncode != 0:
        raise SandboxError(f"npm ci in {pkg} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    stamp.write_text(want + "\n")
    log(f"npm ci done in {time.monotonic() - t0:.1f}s")
    return pkg / "node_modules"


def console_build(build_env: Mapping[str, str], log: Callable[[str], None]) -> Path:
    """The directory holding a finished production build of the console for ``build_env``."""
    src = EDGE_SRC / "console"
    modules = npm_ci("console", log)
    files = [p for name in CONSOLE_SOURCES for p in ([src / name] if (src / name).is_file()
                                                        else sorted((src / name).rglob("*")))
             if p.is_file()]
    digest = _sha256(files, repr(sorted(build_env.items())))[:16]
    target = CACHE / f"console-{digest}"
    if (target / ".next" / "BUILD_ID").exists():
        return target
    log(f"next build (once per source hash {digest}; about a minute on 2 cores)")
    t0 = time.monotonic()
    # built in place (Next records absolute paths); BUILD_ID is written last, so it marks a finished build
    staging = target
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in CONSOLE_SOURCES:
        path = src / name
        if path.is_dir():
            shutil.copytree(path, staging / name)
        elif path.exists():
            shutil.copy2(path, staging / name)
    (staging / "node_modules").symlink_to(modules)
    env = {**os.environ, **build_env, "NEXT_TELEMETRY_DISABLED": "1", "NODE_ENV": "production"}
    proc = subprocess.run([str(modules / ".bin" / "next"), "build"], cwd=staging, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800, check=False)
    if proc.returncode != 0:
        raise SandboxError(f"next build failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    log(f"next build done in {time.monotonic() - t0:.1f}s ({target.relative_to(REPO_ROOT)})")
    return target
