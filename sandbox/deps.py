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

# (Debian package, files that prove it is installed, needed by components)
DEBIAN_PACKAGES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("postgresql-15", ["/usr/lib/postgresql/15/bin/postgres", "/usr/lib/postgresql/15/bin/initdb",
                       "/usr/lib/postgresql/15/bin/pg_ctl", "/usr/lib/postgresql/15/bin/pg_basebackup"],
     ("postgres",)),
    ("postgresql-contrib", ["/usr/share/postgresql/15/extension/pg_stat_statements.control"], ("postgres",)),
    ("pgbouncer", ["/usr/sbin/pgbouncer"], ("postgres",)),
    ("redis-server", ["/usr/bin/redis-server"], ("redis",)),
    ("redis-sentinel", ["/usr/bin/redis-sentinel"], ("redis",)),
    ("util-linux", ["/usr/sbin/runuser"], ("postgres",)),
    ("chromium", ["/usr/bin/chromium"], ("html",)),      # HTML report tests, not `up`
    ("prometheus", ["/usr/bin/prometheus", "/usr/bin/promtool"], ("monitoring",)),
    ("prometheus-alertmanager", ["/usr/bin/prometheus-alertmanager"], ("monitoring",)),
    ("prometheus-node-exporter", ["/usr/bin/prometheus-node-exporter"], ("monitoring",)),
    ("prometheus-postgres-exporter", ["/usr/bin/prometheus-postgres-exporter"], ("monitoring",)),
    ("prometheus-redis-exporter", ["/usr/bin/prometheus-redis-exporter"], ("monitoring",)),
    ("nginx-light", ["/usr/sbin/nginx"], ("edge",)),
    ("knot", ["/usr/sbin/knotd"], ("edge",)),
    ("nodejs", ["/usr/bin/node", "/usr/bin/npm"], ("edge",)),
]

# (import name, pip requirement, components)
PYTHON_MODULES: list[tuple[str, str, tuple[str, ...]]] = [
    ("psycopg", "psycopg[binary]", ("postgres",)),
    ("redis", "redis", ("redis",)),
    ("chdb", "chdb", ("clickhouse",)),
    ("yaml", "PyYAML", ("kubernetes",)),
    ("kubernetes", "kubernetes", ("kubernetes",)),
    ("moto.server", "moto[server]>=5.2", ("aws",)),
    ("trustme", "trustme", ("aws", "edge")),
    ("dns", "dnspython", ("edge",)),
]

UP_COMPONENTS = ("postgres", "redis", "clickhouse", "kubernetes", "monitoring", "aws", "edge")


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

    for pkg, files, comps in DEBIAN_PACKAGES:
        if not needed(comps):
            continue
        absent = [f for f in files if not os.path.exists(f)]
        if absent:
            missing.append(Missing("debian", pkg, "missing " + ", ".join(absent), comps))
    for mod, req, comps in PYTHON_MODULES:
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
