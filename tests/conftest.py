"""Shared helpers for the plugin's own tests (pytester projects)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

LOCAL = 'description = "pytester project"\n'


@pytest.fixture
def project(pytester: pytest.Pytester):
    """A pytester project with a minimal local profile; returns helpers to read its checklist."""
    pytester.makefile(".toml", **{"environments/local": LOCAL})
    return Project(pytester)


class Project:
    def __init__(self, pytester: pytest.Pytester):
        self.pytester = pytester
        self.path = pytester.path

    def write(self, rel: str, text: str) -> Path:
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def record(self, outdir: str = "reports") -> dict:
        return json.loads((self.path / outdir / "checklist.json").read_text())

    def items(self, outdir: str = "reports") -> dict[str, dict]:
        rec = self.record(outdir)
        return {i["id"]: i for s in rec["sections"] for g in s["groups"] for i in g["items"]}

