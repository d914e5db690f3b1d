"""`python -m sandbox up|down|status|deps` — the local data tier on 127.0.0.1.

State lives in <repo>/.sandbox/ (data, logs, credentials.env). `up` is
idempotent; `down` stops every process it started.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import deps, parts
from .common import (
    CREDENTIALS_FILE,
    PORTS,
    REPO_ROOT,
    SANDBOX_DIR,
    SandboxError,
    ensure_credentials,
    ensure_sandbox_dir,
    load_credentials,
    pids_listening,
    process_cmdline,
    say,
)

COMPONENTS = parts.COMPONENTS


@contextmanager
def _lock() -> Iterator[None]:
    ensure_sandbox_dir()
    with open(SANDBOX_DIR / ".lock", "w") as fh:  # closing it releases the lock
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another `python -m sandbox` command is running; waiting for it ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _saved_creds() -> dict[str, str]:
    try:
        return load_credentials()
    except SandboxError:
        return {}


# --------------------------------------------------------------------------- up

def cmd_up(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    wanted = tuple(args.only.split(",")) if args.only else COMPONENTS
    unknown = set(wanted) - set(COMPONENTS)
    if unknown:
        say(f"unknown component(s): {', '.join(sorted(unknown))} (choose from {', '.join(COMPONENTS)})")
        return 2
    missing = deps.check(wanted)
    if missing:
        say("The sandbox cannot start; missing dependencies:")
        for m in missing:
            say(f"  {m}")
        say("Install them with:  bash scripts/bootstrap.sh   (as root)")
        return 2
    if os.geteuid() != 0:
        say("note: not root; PostgreSQL/PgBouncer will run as the current user")
    with _lock():
        ensure_sandbox_dir()
        ctx = parts.Ctx(ensure_credentials())
        say(f"sandbox state: {SANDBOX_DIR}  (credentials: {CREDENTIALS_FILE.relative_to(REPO_ROOT)}, mode 0600)")
        try:
            for part in parts.PARTS:  # in start order (see parts.py for why that order)
                if part.name in wanted:
                    part.up(ctx)
        except SandboxError as exc:
            say(f"\nERROR: {exc}")
            say("Partial state left running; `python -m sandbox down` stops it.")
            return 1
    say(f"\nsandbox up in {time.monotonic() - t0:.1f}s; profile: environments/local.toml "
        "(pytest --env local)")
    return 0


# --------------------------------------------------------------------------- down

def cmd_down(args: argparse.Namespace) -> int:
    with _lock():
        ctx = parts.Ctx(_saved_creds())
        for part in reversed(parts.PARTS):  # each part waits until its own daemons are gone
            part.down(ctx)
        leftovers = {name: pids_listening(port) for name, port in PORTS.items()}
        leftovers = {k: v for k, v in leftovers.items() if v}
        if leftovers:
            for name, pids in leftovers.items():
                say(f"WARNING: port {PORTS[name]} ({name}) still has listeners: "
                    + ", ".join(f"{p} {process_cmdline(p)[:80]}" for p in pids))
        if args.purge:
            shutil.rmtree(SANDBOX_DIR)
            say(f"removed {SANDBOX_DIR} (data and credentials)")
    say("sandbox down" if not leftovers else "sandbox down, with foreign listeners left (not ours)")
    return 0


# --------------------------------------------------------------------------- status

def _status_rows() -> list[dict[str, Any]]:
    ctx = parts.Ctx(_saved_creds())
    return [row for part in parts.PARTS for row in part.status(ctx)]


def cmd_status(args: argparse.Namespace) -> int:
    rows = _status_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            pid = str(r["pid"]) if r["pid"] else "-"
            print(f"{r['component']:<17} {r['state']:<8} {pid:>7}  {r['address']:<16} {r['detail']}")
        if not CREDENTIALS_FILE.exists():
            print("(no credentials yet: run `python -m sandbox up`)")
    return 0 if all(r["state"] == "running" for r in rows) else 1


def cmd_deps(args: argparse.Namespace) -> int:
    ok, text = deps.report()
    print(text)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start (or check) every server; idempotent")
    p_up.add_argument("--only", help=f"comma-separated subset of {','.join(COMPONENTS)}")
    p_up.set_defaults(func=cmd_up)
    p_down = sub.add_parser("down", help="stop every sandbox server")
    p_down.add_argument("--purge", action="store_true", help="also delete .sandbox/ (data and credentials)")
    p_down.set_defaults(func=cmd_down)
    p_status = sub.add_parser("status", help="what is running (exit 1 if anything is stopped)")
    p_status.add_argument("--json", action="store_true")
    p_status.set_defaults(func=cmd_status)
    p_deps = sub.add_parser("deps", help="check the Debian packages and Python modules the sandbox needs")
    p_deps.set_defaults(func=cmd_deps)
    from .monitoring import traffic

    p_traffic = sub.add_parser("traffic", help="bounded load on the sandbox API (--seconds N; faults on demand)")
    traffic.add_arguments(p_traffic)
    p_traffic.set_defaults(func=traffic.command)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except SandboxError as exc:
        say(f"ERROR: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
