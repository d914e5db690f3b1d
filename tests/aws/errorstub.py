"""An AWS endpoint that answers every API call with one error (throttling, expired credentials).

sts:GetCallerIdentity answers normally unless ``fail_identity`` is set, so that a throttle can be
shown on the reads after the connection. The error is written in each protocol's own shape
(JSON for X-Amz-Target APIs, the EC2 query shape, the generic query shape, REST XML) so that
botocore parses the code as it would from AWS. Requests are counted per operation.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDENTITY = ("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>"
            "<Arn>arn:aws:iam::123456789012:user/stub</Arn><UserId>AIDSTUB</UserId><Account>123456789012</Account>"
            "</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>")


class ErrorStub:
    def __init__(self, code: str, status: int, *, fail_identity: bool = False) -> None:
        self.code, self.status, self.fail_identity = code, status, fail_identity
        self.requests: Counter[str] = Counter()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                stub._answer(self, "")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                stub._answer(self, self.rfile.read(length).decode(errors="replace"))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answer(self, h: BaseHTTPRequestHandler, body: str) -> None:
        target = h.headers.get("X-Amz-Target")
        form = urllib.parse.parse_qs(body)
        op = target.rsplit(".", 1)[-1] if target else form.get("Action", [f"{h.command} {h.path}"])[0]
        self.requests[op] += 1
        if op == "GetCallerIdentity" and not self.fail_identity:
            return self._send(h, 200, "text/xml", IDENTITY)
        message = f"stub says {self.code}"
        if target:
            return self._send(h, self.status, "application/x-amz-json-1.1",
                              json.dumps({"__type": self.code, "message": message}))
        if form.get("Version") == ["2016-11-15"]:  # EC2's query protocol has its own error shape
            return self._send(h, self.status, "text/xml", f"<Response><Errors><Error><Code>{self.code}</Code>"
                              f"<Message>{message}</Message></Error></Errors><RequestID>1</RequestID></Response>")
        if "Action" in form:
            return self._send(h, self.status, "text/xml", f"<ErrorResponse><Error><Type>Sender</Type><Code>{self.code}"
                              f"</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>")
        if h.path.startswith("/clusters"):  # EKS: REST with JSON errors, the code in a header
            return self._send(h, self.status, "application/json", json.dumps({"message": message}),
                              {"x-amzn-ErrorType": self.code})
        return self._send(h, self.status, "application/xml",
                          f"<Error><Code>{self.code}</Code><Message>{message}</Message></Error>")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, ctype: str, text: str,
              headers: dict[str, str] | None = None) -> None:
        data = text.encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
