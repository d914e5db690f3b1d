"""Ship the sandbox services' log files to VictoriaLogs through its Loki-compatible push endpoint.

Promtail belongs to Loki (AGPL), so this small tailer does its job: every second it reads
what each file gained and POSTs it to ``/insert/loki/api/v1/push`` as one stream per service
(label ``service``). A file that shrank (rotated, truncated) is read again from the start.

    python -m sandbox.monitoring.logship --url http://127.0.0.1:29428 --file apexmediation-api=PATH ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path


def push(url: str, streams: list[dict[str, object]]) -> None:
    body = json.dumps({"streams": streams}).encode()
    req = urllib.request.Request(f"{url}/insert/loki/api/v1/push", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--file", action="append", default=[], help="service=path (repeatable)")
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args(argv)
    files = [(s, Path(p)) for s, p in (f.split("=", 1) for f in args.file)]
    offsets = {p: 0 for _, p in files}
    while True:
        streams: list[dict[str, object]] = []
        for service, path in files:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size < offsets[path]:
                offsets[path] = 0
            if size == offsets[path]:
                continue
            with path.open("rb") as fh:
                fh.seek(offsets[path])
                chunk = fh.read(min(size - offsets[path], 4 << 20))
            cut = chunk.rfind(b"\n") + 1  # whole lines only; the rest waits for its newline
            if not cut:
                continue
            offsets[path] += cut
            now = time.time_ns()
            lines = [ln for ln in chunk[:cut].decode("utf-8", "replace").splitlines() if ln.strip()]
            if lines:
                streams.append({"stream": {"service": service},
                                "values": [[str(now + i), ln] for i, ln in enumerate(lines)]})
        if streams:
            try:
                push(args.url, streams)
            except OSError as exc:
                print(f"logship: push failed: {exc}", file=sys.stderr, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
