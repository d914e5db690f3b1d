"""Benchmark: the plugin's overhead per item on 1,000 trivial checks, with and without the plugin.

    python benchmarks/plugin_overhead.py [--checks 1000] [--repeat 5]

Writes a throwaway project in a temp dir: one check function parametrized 1,000 times,
the parameters spread over the catalog's automated items. Runs it with the plugin
(which also synthesises the catalog's remaining items and writes the three checklist
files) and with ``-p no:apexready``, and prints the medians, the overhead per check and
the ratio. A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_apexready.catalog import load_catalog

CHECKS = """
import pytest
from pytest_apexready import check

IDS = {ids!r}

@pytest.mark.parametrize("n", [pytest.param(n, marks=check(IDS[n % len(IDS)])) for n in range({count})])
def test_trivial(n):
    assert n >= 0
"""


def run(project: Path, *args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=project, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    ids = [i.id for i in load_catalog().items if i.kind == "automated"]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "environments").mkdir()
        (project / "environments" / "local.toml").write_text('description = "benchmark"\n')
        (project / "test_bench.py").write_text(CHECKS.format(ids=ids, count=opts.checks))
        run(project, "-p", "no:apexready")  # warm the import caches
        plain = [run(project, "-p", "no:apexready") for _ in range(opts.repeat)]
        plugin = [run(project, "-m", "not attestation") for _ in range(opts.repeat)]
        reports = ("checklist.json", "checklist.md", "checklist.html")
        sizes = sum((project / "reports" / n).stat().st_size for n in reports)
    # the minimum is the least disturbed by whatever else the machine is doing
    p, q = min(plain), min(plugin)
    print(f"checks: {opts.checks} (over {len(ids)} automated catalog items), repeats: {opts.repeat}")
    print(f"without plugin : best {p:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in plain)})")
    print(f"with plugin    : best {q:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in plugin)}), "
          f"checklist files {sizes / 1024:.0f} KiB")
    print(f"overhead       : {(q - p) / opts.checks * 1000:.3f} ms per check; ratio {q / p:.2f}x")


if __name__ == "__main__":
    main()
