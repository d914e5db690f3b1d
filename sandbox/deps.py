"""What the sandbox needs from the machine, and a check for it.

`python -m sandbox deps` prints the report; `up` refuses to start with a list
of what is missing and the hint to run `bash scripts/bootstrap.sh`.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
from dataclasses import dataclass

from .parts import PARTS, SELFTESTS

# Each part's Debian packages and Python modules come from sandbox/parts.py (one line per part);
# what only the self-tests need is its SELFTESTS entry.


def _debian() -> dict[tuple[str, tuple[str, ...]], tuple[str, ...]]:
    """{(package, files that prove it installed): the parts that need it}."""
    out: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
    for part in (*PARTS, SELFTESTS):
        for entry in part.debian:
            out[entry] = (*out.get(entry, ()), part.name)
    return out


def _python() -> dict[tuple[str, str], tuple[str, ...]]:
    """{(import name, pip requirement): the parts that need it}."""
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for part in PARTS:
        for entry in part.python:
            out[entry] = (*out.get(entry, ()), part.name)
    return out


@dataclass
class Missing:
    kind: str          # "debian" | "python" | "user"
    name: str
    detail: str
    components: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.kind:<7} {self.name:<20} {self.detail}"


def _python_module_present(name: str) -> bool:
    # find_spec from the repo root would see sandbox/redis.py only as sandbox.redis,
    # so a plain name lookup is the installed package.
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check(components: tuple[str, ...] | None = None) -> list[Missing]:
    """Everything missing for *components* (default: all, including optional ones)."""
    wanted = set(components) if components else None
    missing: list[Missing] = []

    def needed(comps: tuple[str, ...]) -> bool:
        return wanted is None or bool(wanted & set(comps))

    for (pkg, files), comps in _debian().items():
        if not files or not needed(comps):  # no proof files: the bootstrap installs it, nothing requires it
            continue
        absent = [f for f in files if not os.path.exists(f)]
        if absent:
            missing.append(Missing("debian", pkg, "missing " + ", ".join(absent), comps))
    for (mod, req), comps in _python().items():
        if needed(comps) and not _python_module_present(mod):
            missing.append(Missing("python", req, f"`import {mod}` fails", comps))
    have_go = shutil.which("go") or os.path.exists("/usr/local/go/bin/go")
    if needed(("kubernetes",)) and not have_go and not os.environ.get("KUBEBUILDER_ASSETS"):
        from .kube import build

        # no Go, but the cache may hold binaries built earlier
        cached = any(build.cache_root(None).glob("kubernetes-*/kube-apiserver"))
        if not cached:
            missing.append(Missing("tool", "go", "the Go toolchain, to build the Kubernetes control plane from the "
                                   "Go module proxy (or set KUBEBUILDER_ASSETS to envtest binaries)", ("kubernetes",)))
    if needed(("postgres",)):
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append(Missing("user", "postgres", "OS user 'postgres' (created by postgresql-15)", ("postgres",)))
    return missing


def redis_version() -> tuple[int, ...] | None:
    import subprocess
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(exe):
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    for tok in out.split():
        if tok.startswith("v="):
            return tuple(int(x) for x in tok[2:].split(".") if x.isdigit())
    return None


def report(components: tuple[str, ...] | None = None) -> tuple[bool, str]:
    """(ok, human text) for *components*."""
    miss = check(components)
    lines = []
    if not miss:
        lines.append("all sandbox dependencies present")
    else:
        lines.append("missing:")
        lines += [f"  {m}" for m in miss]
        lines.append("install them with:  bash scripts/bootstrap.sh   (as root)")
    rv = redis_version()
    if rv and rv < (7,):
        lines.append(f"redis-server {'.'.join(map(str, rv))} is older than 7")
        miss.append(Missing("debian", "redis-server", "version < 7", ("redis",)))
    return (not miss, "\n".join(lines))


def main() -> int:
    ok, text = report()
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
