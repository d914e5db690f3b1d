"""Reading the API server's audit log (JSON lines) from a point in time on."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .controlplane import DEFAULT_DATA_DIR

AUDIT = DEFAULT_DATA_DIR / "audit.log"


class AuditTail:
    """The audit.log lines written after construction (follows a size-based rotation: the
    apiserver renames audit.log to audit-<time>.log, keeping the inode)."""

    def __init__(self, path: Path = AUDIT):
        st = os.stat(path)
        self.path, self.ino, self.offset = path, st.st_ino, st.st_size

    def events(self) -> list[dict]:
        if os.stat(self.path).st_ino == self.ino:
            chunks = [(self.path, self.offset)]
        else:
            rotated = [p for p in self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}")
                       if p.stat().st_ino == self.ino]
            chunks = [(p, self.offset) for p in rotated] + [(self.path, 0)]
        events = []
        for p, offset in chunks:
            with open(p, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
            for line in data[:data.rfind(b"\n") + 1].splitlines():  # never a half-written last line
                events.append(json.loads(line))
        return events
