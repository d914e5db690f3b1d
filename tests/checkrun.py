"""Run the project's real check suites against a target and read back the checklist.

Self-tests of checks use this: start a compliant or a deliberately non-compliant
server, write a profile pointing at it, run ``pytest -m <marker>`` on the real
suites in a subprocess, and assert on the outcomes in ``checklist.json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pytest_apexready import load_catalog

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CheckRun:
    returncode: int
    output: str
    record: dict

    @property
    def items(self) -> dict[str, dict]:
        return {i["id"]: i for s in self.record["sections"] for g in s["groups"] for i in g["items"]}

    def outcome(self, item_id: str) -> str:
        return self.items[item_id]["outcome"]

    def reason(self, item_id: str) -> str:
        return self.items[item_id]["reason"]

    def bare_reason(self, item_id: str) -> str:
        """The reason without the "part NAME: " the record puts before each line of an item proven in parts."""
        return "\n".join(re.sub(r"^part [\w.-]+: ", "", line) for line in self.reason(item_id).splitlines())


def run_checks(tmp_path: Path, marker: str, profile: str | Path | None = None, *extra: str,
               env: dict[str, str] | None = None, suites: tuple[str, ...] = ()) -> CheckRun:
    """Run the real suites with ``-m marker``; ``profile`` is TOML text, a path, or None for ``local``."""
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
            "-m", marker, "--apex-report", str(tmp_path / "report"), "--rootdir", str(ROOT),
            "-c", str(ROOT / "pyproject.toml")]
    if isinstance(profile, str):
        path = tmp_path / "profile.toml"
        path.write_text(profile)
        args += ["--env", str(path)]
    elif isinstance(profile, Path):
        args += ["--env", str(profile)]
    args += list(extra)
    args += [str(ROOT / s) for s in suites]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    report = tmp_path / "report" / "checklist.json"
    if not report.exists():
        raise AssertionError(f"no checklist written; pytest said:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return CheckRun(proc.returncode, proc.stdout + proc.stderr, json.loads(report.read_text()))


def passing_checks(section: int) -> tuple[str, int]:
    """Source of a test module with one passing check per item of a section (per part where the catalog
    declares parts), and the number of checks in it."""
    claims = [f'"{i.id}", part="{p.name}"' for i in load_catalog().items_of(section) for p in i.parts]
    claims += [f'"{i.id}"' for i in load_catalog().items_of(section) if not i.parts]
    return "from pytest_apexready import check\n" + "".join(
        f"@check({c})\ndef test_{n}(): pass\n" for n, c in enumerate(claims)), len(claims)
