"""The sandbox's AWS account: moto's server on 127.0.0.1, seeded compliant and drifted.

``python -m sandbox.aws serve --port N --dir D`` runs moto in this process (werkzeug, threaded),
seeds both accounts over HTTP (``sandbox.aws_seed``), then back-dates the S3 objects moto stamped
with its own clock (moto has no API for that; an in-process server can set them), writes
``D/ready`` and serves until killed. The request recorder writes to ``D/recording.jsonl`` so
that the read-only self-test can start and download a recording (``MOTO_RECORDER_FILEPATH``); it
records nothing until ``/moto-api/recorder/start-recording``.

``up()``, ``down()`` and ``status()`` are what ``python -m sandbox`` calls.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .common import (
    CREDENTIALS_FILE,
    HOST,
    LOG_DIR,
    REPO_ROOT,
    SANDBOX_DIR,
    SandboxError,
    ensure_port_free,
    pid_alive,
    process_cmdline,
    read_env_file,
    read_pidfile,
    step,
    stop_pid,
    write_env_file,
)
from .parts import Ctx, Row

AWS_DIR = SANDBOX_DIR / "aws"
PORT = 24566
MODULE = "sandbox.aws"


def endpoint(port: int = PORT) -> str:
    return f"http://{HOST}:{port}"


# --------------------------------------------------------------------------- the server process

def serve(port: int, data: Path, *, seed: bool = True, scale: Any = None) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "ready").unlink(missing_ok=True)
    os.environ.setdefault("MOTO_RECORDER_FILEPATH", str(data / "recording.jsonl"))
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would flood the log

    t0 = time.monotonic()
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    info: dict[str, Any] = {"endpoint": endpoint(port)}
    if seed:
        from concurrent.futures import ThreadPoolExecutor

        from . import aws_seed

        with ThreadPoolExecutor(2) as pool:  # the two accounts share nothing: seed them side by side
            done = list(pool.map(lambda drifted: aws_seed.seed(endpoint(port), drifted=drifted, scale=scale),
                                 (False, True)))
        for seeded, key in zip(done, ("compliant", "drifted"), strict=True):
            _backdate(seeded.account, seeded.bucket, seeded.backdate)
            info[key] = seeded.account
        info["seed"] = aws_seed.fingerprint()
    info["seconds"] = round(time.monotonic() - t0, 2)
    (data / "ready").write_text(json.dumps(info))
    while True:
        time.sleep(3600)


def _backdate(account: str, bucket_name: str, stamps: dict[str, dt.datetime]) -> None:
    """Set LastModified of seeded S3 objects (moto's clock stamps every upload 'now')."""
    from moto.s3.models import s3_backends

    bucket = s3_backends[account]["aws"].buckets[bucket_name]
    for key, when in stamps.items():
        naive = when.astimezone(dt.UTC).replace(tzinfo=None)  # moto keeps naive UTC
        for version in bucket.keys.getlist(key):
            version.last_modified = naive


# --------------------------------------------------------------------------- sandbox up/down/status

def start(port: int, data: Path, *, log: Path, extra: list[str] | None = None, timeout: float = 120,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``serve`` in a child process and wait until it has seeded (used by the self-tests too)."""
    ensure_port_free(port, "moto (AWS)")
    data.mkdir(parents=True, exist_ok=True)
    (data / "ready").unlink(missing_ok=True)
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + child_env["PYTHONPATH"]
                                                if child_env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", MODULE, "serve", "--port", str(port), "--dir", str(data), *(extra or [])]
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=child_env, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SandboxError(f"moto exited with code {proc.returncode}\n--- {log} ---\n{tail}")
        if (data / "ready").exists():
            return proc
        time.sleep(0.1)
    proc.kill()
    raise SandboxError(f"moto not seeded on :{port} after {timeout:g}s (see {log})")


def running_pid() -> int | None:
    pid = read_pidfile(AWS_DIR / "moto.pid")
    return pid if pid is not None and pid_alive(pid) and MODULE in process_cmdline(pid) else None


def _answers(port: int) -> bool:
    """moto answers HTTP (any status: an unsigned request to / is refused, which is an answer)."""
    try:
        with urllib.request.urlopen(f"{endpoint(port)}/", timeout=3):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


#: the keys environments/local.toml reads; moto accepts any key, real accounts use boto3's chain
KEY_NAMES = ("APEX_AWS_ACCESS_KEY_ID", "APEX_AWS_SECRET_ACCESS_KEY")


def ensure_keys(path: Path = CREDENTIALS_FILE) -> None:
    """Add a sandbox-only access key pair to credentials.env (kept 0600, other lines untouched)."""
    import secrets

    values = read_env_file(path)
    if all(values.get(k) for k in KEY_NAMES):
        return
    values.setdefault("APEX_AWS_ACCESS_KEY_ID", "AKIA" + secrets.token_hex(8).upper())
    values.setdefault("APEX_AWS_SECRET_ACCESS_KEY", secrets.token_urlsafe(30))
    write_env_file(path, values)


def up() -> None:
    ensure_keys()
    pid = running_pid()
    if pid and (AWS_DIR / "ready").exists() and _answers(PORT) and _seeded_current():
        step("aws", f"already running (pid {pid})")
        _up_bastion()
        return
    if pid:
        stop_pid(pid, kill_group=True, timeout=10)
    t0 = time.monotonic()
    proc = start(PORT, AWS_DIR, log=LOG_DIR / "aws.log")
    (AWS_DIR / "moto.pid").write_text(f"{proc.pid}\n")
    info = json.loads((AWS_DIR / "ready").read_text())
    step("aws", f"moto on {endpoint()} seeded accounts {info['compliant']} (compliant) and {info['drifted']} "
                f"(drifted) in {time.monotonic() - t0:.1f}s")
    _up_bastion()


def _seeded_current() -> bool:
    """The running moto was seeded by this seed code and manifests; otherwise ``up`` restarts it (a reseed)."""
    from . import aws_seed

    info = json.loads((AWS_DIR / "ready").read_text())
    if info.get("seed") == aws_seed.fingerprint():
        return True
    step("aws", "seeded by an older sandbox/aws_seed.py or manifests: restarting moto to reseed")
    return False


def _up_bastion() -> None:
    from . import aws_sshd

    why = aws_sshd.available()
    if why:
        step("aws", f"bastion sshd not started: {why}")
        return
    t0 = time.monotonic()
    aws_sshd.up()
    step("aws", f"bastion sshd on {HOST}:{aws_sshd.PORTS['compliant']} (drifted: {aws_sshd.PORTS['drifted']}) "
                f"in {time.monotonic() - t0:.1f}s")


def down() -> bool:
    from . import aws_sshd

    aws_sshd.down()
    pid = running_pid()
    if pid:
        stop_pid(pid, kill_group=True, timeout=10)
    (AWS_DIR / "moto.pid").unlink(missing_ok=True)
    (AWS_DIR / "ready").unlink(missing_ok=True)
    return bool(pid)


def status() -> dict[str, Any]:
    pid = running_pid()
    ok = bool(pid) and (AWS_DIR / "ready").exists() and _answers(PORT)
    detail = ""
    if ok:
        info = json.loads((AWS_DIR / "ready").read_text())
        from . import aws_sshd

        sshd = aws_sshd.running()
        detail = (f"moto, accounts {info['compliant']} (compliant), {info['drifted']} (drifted); bastion sshd "
                  + ", ".join(f"{k} {'up' if v else 'down'}" for k, v in sshd.items()))
    return {"component": "aws", "state": "running" if ok else "stopped", "pid": pid,
            "address": f"{HOST}:{PORT}", "detail": detail}


# The sandbox part (sandbox/parts.py).
def part_up(ctx: Ctx) -> None:
    up()


def part_down(ctx: Ctx) -> None:
    if down():
        step("aws", "stopped")


def part_status(ctx: Ctx) -> list[Row]:
    return [status()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox.aws")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run moto here, seeded")
    p.add_argument("--port", type=int, default=PORT)
    p.add_argument("--dir", type=Path, default=AWS_DIR)
    p.add_argument("--no-seed", action="store_true")
    p.add_argument("--scale", default="", help="SGS,TGS,OBJECTS extra resources (benchmark)")
    args = ap.parse_args(argv)
    scale = None
    if args.scale:
        from .aws_seed import Scale

        scale = Scale(*(int(x) for x in args.scale.split(",")))
    serve(args.port, args.dir, seed=not args.no_seed, scale=scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
