"""Network helpers for self-tests: free ports, a server that accepts and never answers, a kubeconfig pointing at it."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import threading
from pathlib import Path


def free_port() -> int:
    """A port nothing listens on (closed until someone binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentServer:
    """Accepts TCP connections and never says a word.

    Counts the connections (``accepted``) and the most that were open at once (``peak``): a client that
    gives up closes its socket, which the server notices as end-of-file. Targets probed concurrently show
    a peak near their number; probed one after the other, at most one or two. Both are counts, not timings,
    so they hold on a loaded machine.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.peak = 0
        self.conns: list[socket.socket] = []
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.sock, selectors.EVENT_READ)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                events = self._selector.select(timeout=0.1)
            except (OSError, ValueError):  # closed under us
                return
            for key, _ in events:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.sock:
                    self._accept()
                else:
                    self._read(sock)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:  # closed, or the client gave up before we got to it
            return
        conn.setblocking(False)
        self.accepted += 1
        self.conns.append(conn)
        self._open.add(conn)
        self.peak = max(self.peak, len(self._open))
        self._selector.register(conn, selectors.EVENT_READ)

    def _read(self, conn: socket.socket) -> None:
        # whatever the client sends (a startup packet, a TLS hello, an HTTP request) is read and ignored
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client closed its end
            self._open.discard(conn)
            with contextlib.suppress(KeyError, ValueError):  # already closed by close()
                self._selector.unregister(conn)

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        for c in self.conns:
            c.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def silent_kubeconfig(path: Path, port: int) -> Path:
    """A kubeconfig whose API server is 127.0.0.1:``port`` (a SilentServer), with a dummy token."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "silent",
        "clusters": [{"name": "silent", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                     "insecure-skip-tls-verify": True}}],
        "users": [{"name": "checker", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "checker"}}],
    }))
    return path
