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

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..redact import Secret

if TYPE_CHECKING:
    from .base import Target

__all__ = ["COMPONENTS", "FIXTURES", "KINDS", "TARGETS", "Number", "TargetKind", "UnknownTarget", "by_fixture",
           "component_markers", "kind", "readme_table"]


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

    def load(self) -> type[Target]:
        """Import the client class (raises ImportError when its library is missing)."""
        from .base import Target

        module, cls = self.client.split(":")
        client = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
        if not (isinstance(client, type) and issubclass(client, Target)):
            raise TypeError(f"target kind {self.name}: {self.client} is not a Target subclass")
        return client


class UnknownTarget(LookupError):
    """A name that is not a target kind: says which kinds exist and where a new one goes."""

    def __init__(self, name: str):
        super().__init__(f"unknown target {name!r}: target kinds are {sorted(KINDS)}; a new kind is one "
                         "TargetKind in pytest_apexready/targets/registry.py (README: \"Adding a target kind\")")
        self.name = name


_PG = {"host": str, "port": int, "dbname": str, "user": str, "password": Secret,
       "connect_timeout": Number, "sslmode": str}
_REDIS = {"host": str, "port": int, "username": str, "password": Secret,
          "connect_timeout": Number, "ssl": bool}

_RO_PG = "sessions run with default_transaction_read_only; read-only"
_PSYCOPG = "psycopg[binary]>=3.1"
_REDIS_PY = "redis>=5.0"
_REQUESTS = "requests>=2.31"
#: observability HTTP APIs: url, bearer or basic auth through ${VAR}, a CA bundle, timeouts
_HTTP_API = {"url": str, "bearer_token": Secret, "username": str, "password": Secret, "ca_bundle": str,
             "connect_timeout": Number, "read_timeout": Number}

TARGETS: tuple[TargetKind, ...] = (
    TargetKind(
        "postgres", "postgres", "postgres:Postgres", _PG,
        f"PostgreSQL primary of [targets.postgres]: settings, catalogs, statistics ({_RO_PG}).",
        _PSYCOPG, sandbox_port=25432),
    TargetKind(
        "postgres_replica", "postgres", "postgres:Postgres", _PG,
        f"PostgreSQL streaming replica of [targets.postgres_replica]: recovery state, lag ({_RO_PG}).",
        _PSYCOPG, sandbox_port=25433),
    TargetKind(
        "pgbouncer", "postgres", "postgres:PgBouncer", _PG,
        "PgBouncer of [targets.pgbouncer]: SHOW CONFIG, SHOW POOLS on its admin console, SELECT 1 through the pool "
        "(SHOW and SELECT only; read-only).",
        _PSYCOPG, sandbox_port=26432),
    TargetKind(
        "redis", "redis", "redis:Redis", _REDIS,
        "Redis primary of [targets.redis]: CONFIG GET, INFO, SCAN, TTL (an allow-list of read commands; read-only).",
        _REDIS_PY, sandbox_port=26379),
    TargetKind(
        "redis_replica", "redis", "redis:Redis", _REDIS,
        "Redis replica of [targets.redis_replica]: INFO replication (read commands only; read-only).",
        _REDIS_PY, sandbox_port=26380),
    TargetKind(
        "redis_sentinel", "redis", "redis:Sentinel", {**_REDIS, "master_name": str},
        "Redis Sentinel of [targets.redis_sentinel]: SENTINEL MASTER, CKQUORUM (read commands only; read-only).",
        _REDIS_PY, sandbox_port=26381),
    TargetKind(
        "clickhouse", "clickhouse", "clickhouse:ClickHouse",
        {"host": str, "port": int, "username": str, "password": Secret, "database": str, "secure": bool,
         "connect_timeout": Number},
        "ClickHouse over HTTP of [targets.clickhouse]: system tables, settings (queries run with readonly=1; "
        "read-only).",
        "clickhouse-connect>=0.7", sandbox_port=28123),
    TargetKind(
        "kubernetes", "k8s", "k8s:Kubernetes",
        {"kubeconfig": str, "context": str, "namespace": str, "request_timeout": Number, "backend": list,
         "console": str, "cronjobs": list, "backend_secret": str},
        "Kubernetes API of [targets.kubernetes]: one list per kind, cached for the run (GET only; read-only).",
        "kubernetes>=29.0", sandbox_port=26443),
    TargetKind(
        "aws", "aws", "aws:Aws",
        {"region": str, "endpoint_url": str, "role_arn": str, "profile": str, "access_key_id": Secret,
         "secret_access_key": Secret, "connect_timeout": Number, "read_timeout": Number, "max_attempts": int,
         "vpc": str, "eks_cluster": str, "db_instance": str, "replication_group": str, "load_balancer": str,
         "health_check_path": str, "distribution": str, "origins": list, "public_names": list, "web_acl": str,
         "shield": str, "bastion": str, "bastion_cidrs": list, "secrets": dict, "repositories": list,
         "images": list, "max_high_findings": int, "backup_bucket": str, "export_prefix": str,
         "backup_prefix": str},
        "AWS account of [targets.aws] through boto3: one Describe/List/Get call per resource type, cached for the "
        "run (read-only; README \"AWS\" has the IAM policy).",
        "boto3>=1.34", sandbox_port=24566),
    TargetKind(
        "hosts", "hosts", "hosts:Hosts",
        {"bastion": str, "identity_file": str, "known_hosts": str, "sshd_command": str, "connect_timeout": Number},
        "Hosts of [targets.hosts] over SSH through pytest-testinfra: sshd -T, listening sockets (read-only "
        "commands only).",
        "pytest-testinfra>=10.0", sandbox_port=22022),
    TargetKind(
        "prometheus", "prometheus", "prometheus:Prometheus", _HTTP_API,
        "Prometheus HTTP API of [targets.prometheus]: instant and range queries, rules, targets; each distinct "
        "expression once per run (GET, and POST to the query endpoints only; read-only).",
        _REQUESTS, sandbox_port=29090),
    TargetKind(
        "alertmanager", "alertmanager", "alertmanager:Alertmanager", _HTTP_API,
        "Alertmanager v2 API of [targets.alertmanager]: the loaded configuration (/api/v2/status) and active "
        "alerts (GET only, never creates silences or alerts; read-only).",
        _REQUESTS, sandbox_port=29093),
    TargetKind(
        "grafana", "grafana", "grafana:Grafana", {**_HTTP_API, "token": Secret, "dashboards_dir": str},
        "Dashboards of [targets.grafana]: Grafana's HTTP API (health, search, dashboards by uid, datasources; "
        "GET only), or the Grafana JSON files of dashboards_dir (read-only).",
        _REQUESTS, sandbox_port=29300, notes="The sandbox serves a Grafana API stand-in, not Grafana (AGPL)."),
    TargetKind(
        "logs", "logs", "logs:Logs", {**_HTTP_API, "flavour": str, "service_label": str, "org_id": str},
        "Log store of [targets.logs]: lines per service in a window; flavour victorialogs (LogsQL, "
        "/select/logsql/query) or loki (LogQL, /loki/api/v1/query_range) (queries only; read-only).",
        _REQUESTS, sandbox_port=29428,
        notes="The sandbox runs VictoriaLogs; the loki flavour follows Loki's documented API, untested against Loki."),
    TargetKind(
        "http", "http", "http:Http",
        {"api_url": str, "console_url": str, "status_url": str, "cdn_url": str, "ca_bundle": str,
         "nameservers": list, "checker_email": str, "checker_password": Secret, "health_urls": list,
         "paths": dict, "connect_timeout": Number, "read_timeout": Number, "retries": int,
         "max_redirects": int, "max_body_bytes": int},
        "The public API, console, status page and CDN of [targets.http] through one requests Session (GET, HEAD, "
        "OPTIONS; POST only to sign in as the checker account and for validation probes the API rejects before "
        "writing; read-only).",
        _REQUESTS, sandbox_port=28443,
        notes="Bodies are read up to max_body_bytes (5 MiB); names resolve through `nameservers` when given."),
    TargetKind(
        "tls", "tls", "tls:Tls",
        {"endpoints": list, "ca_bundle": str, "nameservers": list, "http_port": int, "connect_timeout": Number},
        "TLS endpoints (host:port, the host is the SNI name) of [targets.tls] through the ssl module: certificate, "
        "verification against ca_bundle, protocol versions, HTTP->HTTPS redirect and HSTS (handshakes and HEAD "
        "only; read-only).",
        "cryptography>=42", sandbox_port=28443),
    TargetKind(
        "dns", "dns", "dns:Dns",
        {"zone": str, "nameservers": list, "resolvers": list, "connect_timeout": Number},
        "The zone of [targets.dns] at its authoritative nameservers and at the resolvers that must agree, through "
        "dnspython (queries only; read-only).",
        "dnspython>=2.4", sandbox_port=25353),
)

#: kind name -> kind
KINDS: Mapping[str, TargetKind] = {k.name: k for k in TARGETS}


#: fixture name -> kind
FIXTURES: Mapping[str, TargetKind] = {k.fixture: k for k in TARGETS}


def kind(name: str) -> TargetKind | None:
    return KINDS.get(name)


def by_fixture(fixture: str) -> TargetKind | None:
    return FIXTURES.get(fixture)


#: component markers, in first-seen order; a profile may declare any of them absent.
#: Components no target kind reads yet stay listed until their kind lands in TARGETS.
_PLANNED = ("aws", "http", "dns", "tls")
COMPONENTS: tuple[str, ...] = tuple(dict.fromkeys([k.component for k in TARGETS] + list(_PLANNED)))


def component_markers() -> dict[str, str]:
    """Marker name -> the line ``pytest --markers`` shows for it."""
    out = {}
    for comp in COMPONENTS:
        kinds = [k.name for k in TARGETS if k.component == comp]
        reads = f"targets {', '.join(kinds)}" if kinds else "no target kind yet"
        out[comp] = f"checks that read {comp} ({reads}); [absent] {comp} = \"why\" makes them not applicable"
    return out


def _type_name(typ: Any) -> str:
    return {Number: "number", Secret: "secret"}.get(typ, getattr(typ, "__name__", str(typ)))


def readme_table() -> str:
    """The README's target table, between its ``<!-- targets:begin -->`` and ``<!-- targets:end -->`` lines.

    ``python -m pytest_apexready.targets`` prints it; tests/test_target_registry.py checks that the
    README holds exactly this.
    """
    rows = ["| target | fixture | marker | client | keys | sandbox port | needs | reads |",
            "|---|---|---|---|---|---|---|---|"]
    for k in TARGETS:
        keys = ", ".join(f"{key} ({_type_name(t)})" for key, t in k.schema.items())
        port = str(k.sandbox_port) if k.sandbox_port is not None else "-"
        reads = f"{k.doc} {k.notes}".strip().replace("|", "\\|")
        rows.append(f"| `[targets.{k.name}]` | `{k.fixture}` | `{k.component}` | `{k.client}` | {keys} | {port} "
                    f"| `{k.requires}` | {reads} |")
    return "\n".join(rows) + "\n"
