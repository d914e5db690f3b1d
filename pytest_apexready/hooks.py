"""Hooks other plugins (and our own sign-off plugin) implement to extend the checklist run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.hookspec
def pytest_apexready_record(record: dict[str, Any], config: pytest.Config) -> None:
    """Called on the controller with the built record, before files are written; may change it in place."""


@pytest.hookspec
def pytest_apexready_written(record: dict[str, Any], outdir: Path, config: pytest.Config) -> None:
    """Called on the controller after checklist.json, .md and .html were written to ``outdir``."""
