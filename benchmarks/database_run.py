"""Benchmark: `pytest -m database --env local`, serial and with -n 4, against the floor.

    python -m sandbox up && python benchmarks/database_run.py [--repeat 3]

The floor is a minimal script that issues exactly the same queries directly: the
checks' queries are recorded (APEX_TRACE_QUERIES) during a first run, then replayed
by ``_replay`` below in a fresh interpreter with one plain connection per target.
Prints wall times (best of --repeat) and the ratios. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(args: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def _replay(trace: str) -> None:
    """The floor: the same statements, straight through the drivers, no pytest."""
    sys.path.insert(0, str(ROOT))
    from pytest_apexready.profile import load_profile

    profile = load_profile("local", ROOT / "environments", ROOT)
    clients: dict[str, object] = {}

    def settings(name: str) -> dict:
        base = name.removesuffix(" admin console")
        s = {k: (v.reveal() if hasattr(v, "reveal") else v) for k, v in profile.targets[base].items()}
        if name.endswith("admin console"):
            s["dbname"] = "pgbouncer"
        return s

    def client(name: str, kind: str):
        if name not in clients:
            s = settings(name)
            if kind == "sql":
                import psycopg

                clients[name] = psycopg.connect(host=s["host"], port=s["port"], dbname=s["dbname"], user=s["user"],
                                                password=s["password"], autocommit=True,
                                                cursor_factory=psycopg.ClientCursor)
            elif kind == "redis":
                import redis

                clients[name] = redis.Redis(host=s["host"], port=s["port"], username=s.get("username"),
                                            password=s.get("password"), decode_responses=True)
            else:
                import clickhouse_connect

                clients[name] = clickhouse_connect.get_client(host=s["host"], port=s["port"], username=s["username"],
                                                              password=s["password"], database=s["database"])
        return clients[name]

    for line in Path(trace).read_text().splitlines():
        entry = json.loads(line)
        kind, payload, name = entry["kind"], entry["payload"], entry["target"]
        c = client(name, kind)
        if kind == "sql":
            with c.cursor() as cur:
                cur.execute(payload[0], payload[1])
                if cur.description:
                    cur.fetchall()
        elif kind == "redis":
            c.execute_command(*payload)
        else:
            _ = c.query(payload[0]).result_rows  # reading the rows is part of the cost


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--replay":
        _replay(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "database", "--env", "local",
                f"--apex-report={Path(tmp) / 'report'}"]
        timed(base, {"APEX_TRACE_QUERIES": str(trace)})
        sent = len(trace.read_text().splitlines())
        serial = min(timed(base) for _ in range(opts.repeat))
        parallel = min(timed([*base, "-n", "4"]) for _ in range(opts.repeat))
        floor = min(timed([sys.executable, __file__, "--replay", str(trace)]) for _ in range(opts.repeat))
    print(f"statements the checks send: {sent}")
    print(f"floor (same statements, plain drivers, one process): {floor:.2f} s")
    print(f"pytest -m database --env local       : {serial:.2f} s  ({serial / floor:.1f}x the floor)")
    print(f"pytest -m database --env local -n 4  : {parallel:.2f} s  ({parallel / floor:.1f}x the floor)")


if __name__ == "__main__":
    main()
