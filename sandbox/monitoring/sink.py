"""The sandbox's notification sink: every Alertmanager receiver points here, never outside.

HTTP (Slack webhooks, PagerDuty events, generic webhooks): each POST is appended to
``received.jsonl`` as ``{"ts", "channel", "path", "body"}``; ``GET /received`` lists them.
SMTP (email receivers): a minimal server that accepts any message and records it the same way.

    python -m sandbox.monitoring.sink --http-port 29095 --smtp-port 29025 --out DIR/received.jsonl
"""

from __future__ import annotations

import argparse
import http.server
import json
import socketserver
import sys
import threading
import time
from pathlib import Path

_lock = threading.Lock()
OUT = Path("received.jsonl")


def record(channel: str, path: str, body: str) -> None:
    line = json.dumps({"ts": time.time(), "channel": channel, "path": path, "body": body[:20000]})
    with _lock, OUT.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


class HttpSink(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        record(self.path.strip("/").split("/")[0] or "webhook", self.path, body)
        self._send(200, b'{"ok":true,"status":"success"}')

    def do_GET(self) -> None:
        if self.path.startswith("/received"):
            data = OUT.read_bytes() if OUT.exists() else b""
            items = [json.loads(x) for x in data.splitlines() if x.strip()]
            self._send(200, json.dumps(items).encode())
        else:
            self._send(200, b'{"ok":true}')

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for Alertmanager's email notifier: EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, text: str) -> None:
        self.wfile.write((text + "\r\n").encode())

    def handle(self) -> None:
        self.reply("220 apex-sink ESMTP")
        rcpt: list[str] = []
        while True:
            line = self.rfile.readline().decode("utf-8", "replace").strip()
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-apex-sink")
                self.reply("250 8BITMIME")
            elif verb in ("HELO", "MAIL", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpt.append(line.split(":", 1)[-1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    data = self.rfile.readline().decode("utf-8", "replace")
                    if data.rstrip("\r\n") == "." or not data:
                        break
                    lines.append(data)
                record("email", "smtp:" + ",".join(rcpt), "".join(lines))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class _ThreadingTCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--smtp-port", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    OUT = Path(args.out)
    smtp = _ThreadingTCP((args.host, args.smtp_port), SmtpSink)
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    http_server = http.server.ThreadingHTTPServer((args.host, args.http_port), HttpSink)
    http_server.daemon_threads = True
    print(f"sink: http {args.host}:{args.http_port}, smtp {args.host}:{args.smtp_port}, out {OUT}", flush=True)
    http_server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
