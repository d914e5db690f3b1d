"""What every part of the sign-off shares: its error type, canonical JSON, the sha256 tag, the clock."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

__all__ = ["SigningError", "canonical", "now_utc", "sha256_tag"]


class SigningError(Exception):
    """A user-facing problem (bad key, wrong passphrase, missing record). Never carries key material."""


def canonical(obj: Any) -> bytes:
    """``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` as UTF-8: what is hashed
    and signed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def sha256_tag(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
