"""The one registry of target kinds: each kind is listed here once, and everything else reads it.

Profile validation (``[targets.NAME]`` keys and types), the fixtures (one per kind, named and
documented here), the component markers, ``pytest --markers``, ``pytest --fixtures``, the README's
target table and the sandbox's ports all come from :data:`TARGETS`.

Adding a kind: one :class:`TargetKind` below, one client module in this package (a
:class:`~pytest_apexready.targets.base.Target` subclass), its checks, its sandbox part and its
self-test. Nothing else.

This module imports no client library: a client module is imported only when a check asks for
its fixture (``-m database`` never imports the Kubernetes client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..redact import Secret

__all__ = ["TargetKind", "TARGETS", "KINDS", "COMPONENTS", "Number", "kind"]


class Number:
    """Schema type: an int or a float (not a bool)."""


@dataclass(frozen=True, slots=True)
class TargetKind:
    #: the profile table ``[targets.NAME]``
    name: str
    #: the component marker its checks carry, and the key of ``[absent]`` that declares it missing
    component: str
    #: the client class, ``"module:Class"`` below ``pytest_apexready.targets`` (imported lazily;
    #: ``tests/test_target_registry.py`` imports every one, so a typo fails the self-tests)
    client: str
    #: allowed keys of ``[targets.NAME]`` and their types (str, int, bool, list, dict, Number, Secret)
    schema: Mapping[str, Any]
    #: what the fixture reads; shown by ``pytest --fixtures`` (say that it is read-only)
    doc: str
    #: the pip requirement that provides the client library, named when its import fails
    requires: str
    #: the fixture's name (the kind's name unless two kinds would clash)
    fixture: str = ""
    #: the port ``python -m sandbox up`` serves it on, None when the sandbox does not serve it
    sandbox_port: int | None = None
    #: extra words for the README's target table
    notes: str = field(default="")

    def __post_init__(self) -> None:
        module, sep, cls = self.client.partition(":")
        if not sep or not module or not cls:
            raise ValueError(f"target kind {self.name}: client must be 'module:Class', got {self.client!r}")
        if not self.schema:
            raise ValueError(f"target kind {self.name}: a schema without keys")
        if not self.fixture:
            object.__setattr__(self, "fixture", self.name)


_PG = {"host": str, "port": int, "dbname": str, "user": str, "password": Secret,
       "connect_timeout": Number, "sslmode": str}
_REDIS = {"host": str, "port": int, "username": str, "password": Secret,
          "connect_timeout": Number, "ssl": bool}

_RO_PG = "sessions run with default_transaction_read_only; read-only"

TARGETS: tuple[TargetKind, ...] = (
    TargetKind("postgres", "postgres", "postgres:Postgres", _PG,
               f"PostgreSQL primary of [targets.postgres]: settings, catalogs, statistics ({_RO_PG}).",
               "psycopg[binary]>=3.1", sandbox_port=25432),
    TargetKind("postgres_replica", "postgres", "postgres:Postgres", _PG,
               f"PostgreSQL streaming replica of [targets.postgres_replica]: recovery state, lag ({_RO_PG}).",
               "psycopg[binary]>=3.1", sandbox_port=25433),
    TargetKind("pgbouncer", "postgres", "postgres:PgBouncer", _PG,
               "PgBouncer admin console of [targets.pgbouncer]: SHOW CONFIG, SHOW POOLS (SHOW commands only; read-only).",
               "psycopg[binary]>=3.1", sandbox_port=26432),
    TargetKind("redis", "redis", "redis:Redis", _REDIS,
               "Redis primary of [targets.redis]: CONFIG GET, INFO, SCAN, TTL (an allow-list of read commands; read-only).",
               "redis>=5.0", sandbox_port=26379),
    TargetKind("redis_replica", "redis", "redis:Redis", _REDIS,
               "Redis replica of [targets.redis_replica]: INFO replication (read commands only; read-only).",
               "redis>=5.0", sandbox_port=26380),
    TargetKind("redis_sentinel", "redis", "redis:Sentinel", {**_REDIS, "master_name": str},
               "Redis Sentinel of [targets.redis_sentinel]: SENTINEL MASTER, CKQUORUM (read commands only; read-only).",
               "redis>=5.0", sandbox_port=26381),
    TargetKind("clickhouse", "clickhouse", "clickhouse:ClickHouse",
               {"host": str, "port": int, "username": str, "password": Secret, "database": str, "secure": bool,
                "connect_timeout": Number},
               "ClickHouse over HTTP of [targets.clickhouse]: system tables, settings (queries run with readonly=1).",
               "clickhouse-connect>=0.7", sandbox_port=28123),
    TargetKind("kubernetes", "k8s", "k8s:Kubernetes",
               {"kubeconfig": str, "context": str, "namespace": str, "request_timeout": Number, "backend": list,
                "console": str, "cronjobs": list, "backend_secret": str},
               "Kubernetes API of [targets.kubernetes]: one list per kind, cached for the run (get and list only; "
               "read-only).",
               "kubernetes>=29.0", sandbox_port=26443),
)

#: kind name -> kind
KINDS: Mapping[str, TargetKind] = {k.name: k for k in TARGETS}


def kind(name: str) -> TargetKind | None:
    return KINDS.get(name)


#: component markers, in first-seen order; a profile may declare any of them absent.
#: Components no target kind reads yet stay listed until their kind lands in TARGETS.
_PLANNED = ("aws", "http", "dns", "tls", "prometheus", "alertmanager", "grafana", "loki")
COMPONENTS: tuple[str, ...] = tuple(dict.fromkeys([k.component for k in TARGETS] + list(_PLANNED)))
