"""The ``evidence`` fixture: what a check observed, carried on the test report."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ._keys import EVIDENCE_KEY
from .redact import Redactor

__all__ = ["EVIDENCE_KEY", "NOTE", "Evidence"]

#: the name of a prose entry made by :meth:`Evidence.note`
NOTE = "note"


class Evidence:
    """Records observations as JSON-able primitives, redacted before they are kept.

    ``evidence.record("shared_buffers", "1GB", source="SHOW shared_buffers on postgres 127.0.0.1:25432")``
    for an observation; ``evidence.note("...")`` for a sentence a reader of the checklist needs
    (what this check leaves to another item, say). Findings are not evidence: report them with
    :func:`~pytest_apexready.fail_check`.
    """

    def __init__(self, node: pytest.Item, redactor: Redactor):
        self._node = node
        self._redactor = redactor
        node.stash.setdefault(EVIDENCE_KEY, [])

    def record(self, name: str, value: Any, *, source: str = "") -> Any:
        entry = {"name": name, "value": _jsonable(self._redactor.value(value)), "source": self._redactor.text(source)}
        self._node.stash[EVIDENCE_KEY].append(entry)
        return value

    def note(self, text: str) -> None:
        """A prose note, kept as the entry ``{"name": "note", "value": text, "source": ""}``."""
        self._node.stash[EVIDENCE_KEY].append({"name": NOTE, "value": self._redactor.text(text), "source": ""})

    @property
    def entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self._node.stash[EVIDENCE_KEY]
        return list(entries)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_jsonable(v) for v in value]
        return str(value)
