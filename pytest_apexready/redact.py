"""Keeping secret values out of every output: terminal, tracebacks, reports."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "Redactor", "Secret"]

MASK = "***"

# credentials in URLs (scheme://user:password@host) and common key=value forms
_URL_CREDS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@")
# (a finding's own words "observed"/"expected" after "token:" are prose, not a value)
_KV_CREDS = re.compile(
    r"(?i)\b(?P<k>password|passwd|pwd|secret|token|api[_-]?key|secret_access_key)(?P<sep>\s*[=:]\s*)(?P<q>['\"]?)"
    r"(?!(?:observed|expected)\b)(?P<v>[^\s'\",;]+)"
)


class Secret:
    """A string that does not show itself: ``repr`` and ``str`` print a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Redactor:
    """Replaces known secret values and credential-shaped substrings with a mask."""

    def __init__(self, secrets: list[str] | None = None):
        self._secrets: set[str] = set()
        for s in secrets or ():
            self.add(s)

    def add(self, value: str) -> None:
        # very short values would mask ordinary words; none of ours are that short
        if value and len(value) >= 4:
            self._secrets.add(value)

    def text(self, value: str) -> str:
        for s in sorted(self._secrets, key=len, reverse=True):
            if s in value:
                value = value.replace(s, MASK)
        value = _URL_CREDS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
        value = _KV_CREDS.sub(lambda m: f"{m['k']}{m['sep']}{m['q']}{MASK}", value)
        return value

    def value(self, value: Any) -> Any:
        """Redact a JSON-able value recursively."""
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {str(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set)):
            return [self.value(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.text(repr(value))

    def needs(self, value: str) -> bool:
        return self.text(value) != value
