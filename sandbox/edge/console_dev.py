"""A console that is not optimized: the sandbox console's own sources served by ``next dev``.

The failing direction of 3.2.2's HTTP half needs bundles that really are not a production build; a
development server is the common way one reaches an environment. It is too heavy to run in
``python -m sandbox up`` (measured on 2 cores: about 9 s to the first page, which compiles on
request, and about 620 MB RSS), so only the self-test that needs it starts it, on a port it is given,
from a copy of the sources in a directory of its own (``next dev`` writes ``.next/`` there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..common import HOST, SandboxError, spawn
from . import build


def start(workdir: Path, port: int, log: Callable[[str], None] = print) -> subprocess.Popen[bytes]:
    """Start ``next dev`` on HOST:``port`` from a copy of the console in ``workdir``; stop it with
    ``stop_pid(proc.pid, kill_group=True)`` (it runs in a session of its own, with its next-server child)."""
    modules = build.npm_ci("console", log)
    src = build.EDGE_SRC / "console"
    workdir.mkdir(parents=True, exist_ok=True)
    for name in build.CONSOLE_SOURCES:
        path = src / name
        if path.is_dir():
            shutil.copytree(path, workdir / name, dirs_exist_ok=True)
        elif path.exists():
            shutil.copy2(path, workdir / name)
    if not (workdir / "node_modules").exists():
        (workdir / "node_modules").symlink_to(modules)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NEXT_TELEMETRY_DISABLED": "1",
           "NODE_ENV": "development", "HOME": str(workdir)}
    node = shutil.which("node") or "node"
    return spawn([node, str(modules / ".bin" / "next"), "dev", "-H", HOST, "-p", str(port)],
                 log_file=workdir / "next-dev.log", pidfile=workdir / "next-dev.pid", cwd=workdir, env=env)


def wait_first_page(proc: subprocess.Popen[bytes], port: int, timeout: float = 120) -> float:
    """Seconds until the home page answers 200 (the dev server compiles it on this first request)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SandboxError(f"next dev exited with code {proc.returncode} before serving a page")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=60) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise SandboxError(f"next dev did not serve http://{HOST}:{port}/ within {timeout:.0f}s")
