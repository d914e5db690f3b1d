"""Benchmark: the whole checklist with every target silent, against one connect timeout and a healthy run.

    APEX_KEEP_SANDBOX=1 python -m sandbox up        # for the healthy run (or pass --no-healthy)
    python benchmarks/dead_targets.py [--timeout 3] [--without-probe]

A silent target accepts the TCP connection and never answers: the worst kind of dead, since
nothing is refused and every client waits for its full timeout. The dead profile is
``environments/local.toml`` with every target of the registry moved to one silent port and every
connect timeout set to ``--timeout``. Runs, each in a fresh interpreter:

- healthy: ``pytest --env local`` against the sandbox;
- dead: the same checks against the dead profile (the plugin probes all targets at once);
- ``--without-probe``: the dead run with the session-start probe switched off, so that each
  target's first check pays its own timeout, one after the other (what the probe replaces).

Goal (issue 8): dead < healthy + 2 x timeout + 3 s. Exit status 1 when it is missed.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from netutil import SilentServer, silent_kubeconfig  # noqa: E402 - tests/ is put on the path just above
from pytest_apexready.redact import Secret  # noqa: E402
from pytest_apexready.targets.registry import KINDS  # noqa: E402

PASSWORD_VAR = "APEX_DEAD_TARGETS_PASSWORD"
VERBOSE = False
NO_PROBE = "import pytest_apexready.targets.probe as probe\n\nprobe.probe_session = lambda *args, **kwargs: {}\n"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


#: host:port inside a string (a URL, an endpoint, a nameserver): the port is moved to the silent one
ADDRESS = re.compile(r"^((?:[a-z]+://)?[\w.-]+):(\d+)(/.*)?$")


def silence(key: str, value: Any, schema: Any, port: int, kubeconfig: Path, timeout: float) -> Any:
    """One value of a local.toml target table, pointed at the silent port."""
    if key == "host":
        return "127.0.0.1"
    if key in ("port", "http_port"):
        return port
    if key == "kubeconfig":
        return str(kubeconfig)
    if key in ("connect_timeout", "request_timeout", "read_timeout"):
        return timeout
    if schema is Secret:
        return f"${{{PASSWORD_VAR}}}"
    if isinstance(value, str) and (m := ADDRESS.match(value)):
        return f"{m.group(1)}:{port}{m.group(3) or ''}"
    if isinstance(value, list):
        return [silence(key, v, None, port, kubeconfig, timeout) for v in value]
    return value


def dead_profile(tmp: Path, port: int, timeout: float) -> Path:
    """environments/local.toml with every registry target on the silent port (names resolve at a silent DNS)."""
    local = tomllib.loads((ROOT / "environments" / "local.toml").read_text())
    kubeconfig = silent_kubeconfig(tmp / "silent.kubeconfig", port)
    missing = sorted(set(KINDS) - set(local.get("targets", {})))
    if missing:
        raise SystemExit(f"environments/local.toml has no table for {missing}: the dead run would not cover them")
    lines = [f'description = "every target silent on 127.0.0.1:{port} (benchmarks/dead_targets.py)"']
    for name, table in local["targets"].items():
        schema = KINDS[name].schema
        lines.append(f"\n[targets.{name}]")
        lines += [f"{k} = {toml_value(silence(k, v, schema.get(k), port, kubeconfig, timeout))}"
                  for k, v in table.items()]
    for section, table in local.items():
        if isinstance(table, dict) and section != "targets":
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path = tmp / "dead.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(label: str, args: list[str], report: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=no", f"--apex-report={report}", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{label}: {' '.join(cmd)} exited {proc.returncode}:\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    record = json.loads((report / "checklist.json").read_text())
    items = [i for s in record["sections"] for g in s["groups"] for i in g["items"]]
    errors = [i for i in items if i["outcome"] == "error"]
    reasons = {i["reason"] for i in errors}
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    print(f"  {label:<14} {wall:6.1f} s   {len(errors):3} items error, {len(reasons)} distinct reasons   {last}",
          flush=True)
    if VERBOSE:
        for reason in sorted(reasons):
            print(f"      {sum(i['reason'] == reason for i in errors):3} x {reason[:150]}")
    return {"wall": wall, "errors": len(errors), "reasons": len(reasons), "items": len(items)}


def sandbox_down_kinds() -> list[str]:
    """The registry kinds whose sandbox port does not accept a connection."""
    down = []
    for kind in KINDS.values():
        if kind.sandbox_port is None:
            continue
        try:
            socket.create_connection(("127.0.0.1", kind.sandbox_port), timeout=1).close()
        except OSError:
            down.append(kind.name)
    return down


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=3.0, help="connect timeout of every dead target (s)")
    parser.add_argument("--no-healthy", action="store_true", help="skip the healthy run (no sandbox needed)")
    parser.add_argument("--without-probe", action="store_true",
                        help="also time the dead run with the session-start probe switched off")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the distinct error reasons")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    t = args.timeout
    with (tempfile.TemporaryDirectory(prefix="apex-dead-") as tmpdir, SilentServer() as server,
          socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp):
        udp.bind(("127.0.0.1", server.port))  # DNS asks over UDP: bound, never answered
        tmp = Path(tmpdir)
        profile = dead_profile(tmp, server.port, t)
        env = {PASSWORD_VAR: "not-a-real-password"}
        print(f"{len(KINDS)} target kinds, every one silent on 127.0.0.1:{server.port}, connect timeout {t:g} s")
        results: dict[str, dict[str, Any]] = {}
        if not args.no_healthy:
            if down := sandbox_down_kinds():
                raise SystemExit(f"the sandbox does not serve {down}: `APEX_KEEP_SANDBOX=1 python -m sandbox up`, "
                                 "or pass --no-healthy")
            results["healthy"] = run("healthy", ["--env", "local"], tmp / "healthy")
        results["dead"] = run("dead", [f"--env={profile}"], tmp / "dead", env)
        accepted = server.accepted
        if args.without_probe:
            (tmp / "apex_no_probe.py").write_text(NO_PROBE)
            path = os.pathsep.join(p for p in (str(tmp), os.environ.get("PYTHONPATH", "")) if p)
            results["without probe"] = run("without probe", [f"--env={profile}", "-p", "apex_no_probe"],
                                           tmp / "noprobe", {**env, "PYTHONPATH": path})
    dead = results["dead"]["wall"]
    print(f"\nconnections accepted by the silent server during the dead run: {accepted}")
    print(f"dead run {dead:.1f} s = {dead / t:.1f} x connect timeout ({t:g} s)")
    ok = True
    if "healthy" in results:
        healthy = results["healthy"]["wall"]
        bound = healthy + 2 * t + 3
        ok = dead < bound
        print(f"healthy run {healthy:.1f} s; goal dead < healthy + 2 x {t:g} s + 3 s = {bound:.1f} s: "
              f"{'met' if ok else 'MISSED'} (dead - healthy = {dead - healthy:+.1f} s)")
    if "without probe" in results:
        print(f"without the probe: {results['without probe']['wall']:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
