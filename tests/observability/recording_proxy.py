"""A recording HTTP proxy for the read-only proof: forwards every request to one upstream and
records its method, path, query and form body. The checker is pointed at the proxy instead of
the server; what the proxy saw is everything the checker sent."""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    body: str

    @property
    def form(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.body)


class RecordingProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.seen: list[Seen] = []
        lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urllib.parse.urlsplit(self.path)
                with lock:
                    proxy.seen.append(Seen(self.command, url.path, url.query, body.decode("utf-8", "replace")))
                conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
