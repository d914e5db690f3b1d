"""The sandbox's parts, in start order: one `Part` per line of `PARTS`.

`python -m sandbox up|down|status`, `--only`, `sandbox/deps.py` and `scripts/bootstrap.sh` (through
`python3 -m sandbox.parts --debian`) all read this list, so a new part is its module plus one line here.
A part's module exposes `up(ctx)`, `down(ctx)` and `status(ctx) -> list[row]` (with `prefix`,
`<prefix>up` ...), imported only when the part is used.

Stdlib only: the bootstrap runs this with a bare python3, before any pip install.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

Row = dict[str, Any]  # {"component", "state" ("running"|"stopped"), "pid", "address", "detail"}


@dataclass(frozen=True)
class Ctx:
    """What a part's up/down/status get: the sandbox credentials (empty if none yet) and a logger."""

    creds: Mapping[str, str] = field(default_factory=dict)

    def log(self, component: str) -> Callable[[str], None]:
        from .common import step

        return lambda msg: step(component, msg)


@dataclass(frozen=True)
class Part:
    name: str                                       # `--only` name, `deps` component
    module: str                                     # exposes <prefix>up, <prefix>down, <prefix>status
    debian: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(Debian package, files that prove it installed); no files: bootstrap installs it, `up` does not need it."""
    python: tuple[tuple[str, str], ...] = ()        # (import name, pip requirement)
    prefix: str = ""

    def _fn(self, what: str) -> Callable[[Ctx], Any]:
        mod: ModuleType = importlib.import_module(self.module)
        fn: Callable[[Ctx], Any] = getattr(mod, self.prefix + what)
        return fn

    def up(self, ctx: Ctx) -> None:
        self._fn("up")(ctx)

    def down(self, ctx: Ctx) -> None:
        self._fn("down")(ctx)

    def status(self, ctx: Ctx) -> list[Row]:
        rows: list[Row] = self._fn("status")(ctx)
        return rows


PG_BIN = "/usr/lib/postgresql/15/bin/"

PARTS: tuple[Part, ...] = (
    Part("postgres", "sandbox.datatier", prefix="postgres_",
         debian=(("postgresql-15", tuple(PG_BIN + b for b in ("postgres", "initdb", "pg_ctl", "pg_basebackup"))),
                 ("postgresql-contrib", ("/usr/share/postgresql/15/extension/pg_stat_statements.control",)),
                 ("pgbouncer", ("/usr/sbin/pgbouncer",)),
                 ("util-linux", ("/usr/sbin/runuser",))),       # runuser: PostgreSQL refuses to run as root
         python=(("psycopg", "psycopg[binary]"),)),
    Part("redis", "sandbox.datatier", prefix="redis_",
         debian=(("redis-server", ("/usr/bin/redis-server",)), ("redis-sentinel", ("/usr/bin/redis-sentinel",)),
                 ("redis-tools", ())),
         python=(("redis", "redis"),)),
    Part("clickhouse", "sandbox.datatier", prefix="clickhouse_", python=(("chdb", "chdb"),)),
    Part("kubernetes", "sandbox.kube.part",
         python=(("yaml", "PyYAML"), ("kubernetes", "kubernetes"))),  # + Go or cached binaries (deps.py)
    # after the databases: its exporters read them
    Part("monitoring", "sandbox.monitoring", prefix="part_",
         debian=(("prometheus", ("/usr/bin/prometheus", "/usr/bin/promtool")),
                 ("prometheus-alertmanager", ("/usr/bin/prometheus-alertmanager",)),
                 ("prometheus-node-exporter", ("/usr/bin/prometheus-node-exporter",)),
                 ("prometheus-postgres-exporter", ("/usr/bin/prometheus-postgres-exporter",)),
                 ("prometheus-redis-exporter", ("/usr/bin/prometheus-redis-exporter",)))),
    Part("aws", "sandbox.aws", prefix="part_",
         debian=(("openssh-server", ()),),                     # the bastion; `up` says so when it is missing
         python=(("moto.server", "moto[server]>=5.2"), ("trustme", "trustme"))),
    # after PostgreSQL and Redis: the API's /health reads them
    Part("edge", "sandbox.edge", prefix="part_",
         debian=(("nginx-light", ("/usr/sbin/nginx",)), ("knot", ("/usr/sbin/knotd",)), ("knot-dnsutils", ()),
                 ("nodejs", ("/usr/bin/node", "/usr/bin/npm"))),
         python=(("trustme", "trustme"), ("dns", "dnspython"))),
)

# Not a part `up` starts: what the self-tests need (HTML report in chromium; the too-old Debian ClickHouse).
SELFTESTS = Part("selftests", "",
                 debian=(("chromium", ("/usr/bin/chromium",)), ("chromium-driver", ()), ("clickhouse-server", ())))

COMPONENTS = tuple(p.name for p in PARTS)


def debian_packages() -> list[str]:
    """Every Debian package the bootstrap installs, each once, in PARTS order then the self-tests'."""
    return list(dict.fromkeys(pkg for p in (*PARTS, SELFTESTS) for pkg, _ in p.debian))


def main(argv: list[str]) -> int:
    if argv == ["--debian"]:
        print(" ".join(debian_packages()))
        return 0
    if argv == ["--names"]:
        print(" ".join(COMPONENTS))
        return 0
    print("usage: python3 -m sandbox.parts --debian|--names", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
