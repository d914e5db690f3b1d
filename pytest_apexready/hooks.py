"""Hooks other plugins (and our own sign-off plugin) implement to extend the checklist run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .record import Record

__all__ = ["RecordSlot", "pytest_apexready_record", "pytest_apexready_written"]


@dataclass
class RecordSlot:
    """The run's record while the hooks finish it, and the files written from it.

    Records are immutable: a hook that changes the record assigns a new one to ``slot.record``
    (each hook sees what the previous one left); one that rewrites the files sets ``slot.paths``.
    """

    record: Record
    paths: list[Path] = field(default_factory=list)


@pytest.hookspec
def pytest_apexready_record(slot: RecordSlot, outdir: Path, config: pytest.Config) -> None:
    """Called on the controller with the built record in ``slot.record``, before files are written to ``outdir``."""


@pytest.hookspec
def pytest_apexready_written(slot: RecordSlot, outdir: Path, config: pytest.Config) -> None:
    """Called on the controller after checklist.json, .md and .html were written to ``outdir`` (``slot.paths``)."""
