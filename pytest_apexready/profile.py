"""Environment profiles: ``environments/NAME.toml`` with targets and expectations.

Every mistake in a profile is a :class:`pytest.UsageError` that names the file,
the key and the fix, raised before any target is contacted.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .redact import Secret
from .targets.registry import COMPONENTS, KINDS, Number

__all__ = ["EXPECTATIONS", "Profile", "expectations_table", "load_profile"]

# The keys and types of each [targets.NAME] table are the registry's (pytest_apexready/targets/registry.py):
# a table for a kind that has no client there is an unknown target.

#: Expectations: name -> (type, default, meaning). A profile may override any.
EXPECTATIONS: dict[str, tuple[Any, Any, str]] = {
    "postgres_ram_gib": (Number, None, "RAM of the PostgreSQL instance, for memory ratios"),
    "redis_ram_gib": (Number, None, "RAM of the Redis instance, for maxmemory"),
    "cpu_cores": (int, None, "CPU cores of the database host, for the pool size formula"),
    "effective_spindle_count": (int, 1, "disks in the pool size formula (1 for SSD)"),
    "postgres_min_version": (int, 15, "minimum PostgreSQL major version"),
    "clickhouse_min_version": (int, 23, "minimum ClickHouse major version"),
    "redis_min_version": (int, 7, "minimum Redis major version"),
    "kubernetes_min_version": (str, "1.28", "minimum Kubernetes server version"),
    "migrations": (int, 14, "number of schema migrations that must be applied"),
    "redis_min_maxclients": (int, 10000, "minimum Redis maxclients"),
    "backup_retention_days": (int, 30, "point-in-time recovery window"),
    "clickhouse_materialized_views": (int, 4, "materialized views that must exist"),
    "backend_min_replicas": (int, 3, "minimum backend pods"),
    "console_min_replicas": (int, 2, "minimum console pods"),
    "hpa_min_replicas": (int, 3, "HPA minReplicas"),
    "hpa_max_replicas": (int, 10, "HPA maxReplicas"),
    "pdb_min_available": (int, 2, "PodDisruptionBudget minAvailable"),
    "backend_min_env_vars": (int, 25, "variables in backend-secrets"),
    "slow_query_ms": (Number, 1000, "a query slower than this on average is slow"),
    "postgres_app_role": (str, "apex_app", "the application's login role (least privilege)"),
    "clickhouse_max_retention_months": (int, 13, "longest TTL allowed on raw event tables (legal retention)"),
    "clickhouse_ram_gib": (Number, None, "RAM of a ClickHouse server; max_memory_usage must not exceed it"),
    "console_api_url": (str, None, "the URL the console must use for NEXT_PUBLIC_API_URL"),
    "console_cdn_url": (str, None, "the CDN origin the console serves its static assets from (ASSET_PREFIX)"),
    "cronjob_schedules": (dict, {"sales-automation": "0 19 * * *", "growth-engine": "0 19 * * *"},
                          "CronJob name -> the schedule it must have"),
    "backup_cronjobs": (list, ["postgres-backup", "clickhouse-backup"], "CronJobs that back up the databases"),
    "job_success_max_age_hours": (Number, 24, "a CronJob's last successful run must be this recent"),
    "redis_ttls": (dict, {"sdk:config:*": 86400, "session:*": 1800, "dashboard:metrics:*": 300},
                   "cache key pattern -> longest TTL allowed, in seconds"),
    # names and thresholds the database and Kubernetes checks use (issue 14: none of them lives in a check).
    # Each default is the ApexMediation schema or the checklist's own number; the comment says why.
    "postgres_schema": (str, "public", "PostgreSQL schema of the application tables (the migrations create them "
                        "there; 2.1.2, 2.1.3)"),
    "migrations_table": (str, "schema_migrations", "table the migration tool records applied versions in (2.1.1)"),
    "audit_log_table": (str, "audit_logs", "the audit trail table (5.3.3), as the migrations name it"),
    "audit_log_columns": (list, ["created_at", "actor", "action"],
                          "columns the audit trail needs: when, who, what (5.3.3)"),
    "signups_table": (str, "customers", "table a customer signup inserts into (10.4.1)"),
    "signups_time_column": (str, "created_at", "its creation time column (10.4.1)"),
    "postgres_min_tables": (int, 1, "user tables 6.1.4 must find; 0 declares a database legitimately without tables"),
    "seq_scan_min_rows": (int, 10000, "a table this large read mostly by sequential scans is unindexed (6.1.2); "
                          "smaller ones are cheaper to scan than to index"),
    "seq_scan_read_factor": (Number, 10, "sequential reads of at least this many times the table's rows (6.1.2): "
                             "well beyond one scan per ANALYZE or dump"),
    "autovacuum_max": (dict, {"autovacuum_vacuum_scale_factor": 0.1, "autovacuum_analyze_scale_factor": 0.05,
                              "autovacuum_naptime": 60},
                       "the most each setting may be for 'aggressive' autovacuum (6.1.3): half PostgreSQL's "
                       "defaults (0.2, 0.1) and its 1 min naptime"),
    "clickhouse_tables": (list, ["impressions", "clicks", "revenue_events"],
                          "ClickHouse tables the pipeline writes, which must exist (2.2.1); [] declares none (2.2.5)"),
    "clickhouse_impressions_table": (str, "impressions", "ClickHouse table of ad impressions (10.4.2)"),
    "clickhouse_time_column": (str, "event_time", "event time column of the ClickHouse event tables (10.4.2)"),
    "clickhouse_distributed": (bool, True, "ClickHouse serves Distributed tables (2.2.4 applies); false declares a "
                               "deployment without them, making 2.2.4 not applicable"),
    "clickhouse_min_replicas": (int, 2, "replicas per shard and active replicas per table (1.1.3, 2.2.4): one "
                                "replica is no replication"),
    "ttl_grace_days": (Number, 1, "days an expired ClickHouse part may outlive its TTL (2.2.5): TTL merges run "
                       "every merge_with_ttl_timeout (4 h) and may queue"),
    "redis_maxmemory_ratio": (Number, 0.80, "maxmemory as a share of the instance RAM (2.3.3, the checklist's 80%)"),
    "redis_maxmemory_tolerance": (Number, 0.05, "accepted distance from that share, of the RAM either side (2.3.3): "
                                  "instance sizes are not round numbers"),
    "redis_sentinel_master": (str, "mymaster", "Sentinel's master name when [targets.redis_sentinel] sets no "
                              "master_name (Redis's documented default) (2.3.5)"),
    "redis_ttl_optional": (list, [], "key patterns of redis_ttls that may have no key (6.2.1), e.g. short-lived "
                           "dashboard metrics on an idle instance; any other pattern without keys fails"),
    "redis_snapshot_max_age_hours": (Number, 24, "the last RDB snapshot must be this recent (8.1.3: daily)"),
    "health_path": (str, "/health", "the backend's health endpoint its probes must use (3.1.4)"),
    "secret_min_length": (int, 32, "shortest NEXTAUTH_SECRET (3.2.4): 32 characters, as NextAuth's docs ask "
                          "(openssl rand -base64 32)"),
    "k8s_min_workloads": (int, 1, "workloads (Deployments, StatefulSets) 5.1.3 must find; 0 declares a namespace "
                          "legitimately without them"),
    # observability (sections 1.3, 4, 7, 10, 11; README "Observability")
    "scrape_jobs": (list, ["apexmediation-api", "postgres", "redis", "node", "alertmanager", "prometheus"],
                    "Prometheus jobs that must have targets, every one up (1.3.1, 7.1.1)"),
    "business_metrics": (list, ["customers_created_total", "stripe_revenue_cents", "sdk_crashes_total",
                                "openai_monthly_spend_dollars", "ad_impressions_total"],
                         "business metrics that must have recent samples (7.1.2)"),
    "service_mesh": (str, "istio", "'istio' (its metrics must reach Prometheus, 7.1.3) or 'none' (not applicable)"),
    "critical_alerts": (list, ["ServiceDown", "BackendApiDown", "HighErrorRate", "HighLatencyP95", "DatabaseDown",
                               "DatabaseConnectionPoolExhausted", "DiskFilling", "OpenAIHardLimitReached"],
                        "critical alert rules that must be loaded, each with a for: and a unit test (7.2.1)"),
    "warning_alerts": (list, ["HighMemoryUsage", "SlowQueries", "HighChurnRate"],
                       "warning alert rules that must be loaded (7.2.2)"),
    "ai_cost_alerts": (list, ["OpenAIDailySpendAboveBudgetShare", "OpenAISpendRateHigh", "OpenAIHardLimitReached"],
                       "AI cost alert rules that must be loaded (4.3.1)"),
    "alert_rule_tests": (str, "monitoring/alerts.test.yml",
                         "promtool unit tests, run against the rules Prometheus has loaded (7.2.1)"),
    "alert_routes": (dict, {"critical": ["slack:#platform-alerts", "pagerduty"], "warning": ["email"]},
                     "severity -> integrations the routing tree must notify (slack:#channel, pagerduty, email)"),
    "dashboards": (dict, {"system_health": "apex-system-health", "application_performance": "apex-app-performance",
                          "business_metrics": "apex-business", "ai_cost": "apex-ai-cost"},
                   "dashboard -> Grafana uid (1.3.2, 7.3.x)"),
    "log_services": (list, ["apexmediation-api", "postgres", "redis", "prometheus", "alertmanager"],
                     "services whose log lines the log store must hold (1.3.3)"),
    "log_window": (str, "15m", "how recent those log lines must be"),
    "api_job": (str, "apexmediation-api", "the Prometheus job of the API's request metrics"),
    "slo_window": (str, "5m", "window of the error rate and p95 (10.3.1, 10.3.2)"),
    "max_error_rate_percent": (Number, 1, "highest 5xx share of API requests (10.3.1)"),
    "p95_latency_ms": (Number, 500, "highest p95 API latency (10.3.2)"),
    "ai_spend_metric": (str, "openai_spend_dollars_total", "counter of AI spend in dollars, label service"),
    "ai_rollout_spend_limits": (dict, {"ENABLE_GROWTH_AI_ANALYTICS": 50, "ENABLE_SELF_EVOLVING_AI": 75},
                                "flag -> spend so far (dollars) below which it may be enabled (4.2.2, 4.2.3)"),
    "incident_window": (str, "24h", "window of the critical-alert history when go_live is not set (10.4.4)"),
    "spend_tracking_days": (int, 7, "days on each of which the AI spend metric must have samples (11.2.2)"),
    # the edge: http, tls and dns (README "The edge")
    "cert_min_days": (Number, 30, "days a served certificate must still be valid (1.1.8, 10.2.2)"),
    "rate_limit_requests": (int, 100, "requests allowed per window by the API's rate limiter (5.2.1)"),
    "rate_limit_window_s": (int, 900, "the rate limiter's window in seconds (5.2.1)"),
    "rate_limited_path": (str, "/api/v1/apps", "an API path the rate limiter covers; one GET reads its headers"),
    "rate_limit_probe_path": (str, None, "the test route --apex-probe exhausts (5.2.1); unset: rate_limited_path"),
    "api_max_page_size": (int, 100, "largest page size a list route may allow (6.3.3)"),
    "static_min_max_age_s": (int, 31536000, "shortest max-age of static assets through the CDN (6.2.2)"),
    "compression_min_bytes": (int, 1024, "responses this large must be gzip or br encoded (6.3.4)"),
    "jwt_lifetime_days": (Number, 7, "access token lifetime, exp - iat (5.2.6)"),
    "coppa_min_age": (int, 13, "signup refuses younger birth dates (5.3.2)"),
    "test_customer_email": (str, None, "the test customer whose first signup must exist in PostgreSQL (10.2.4)"),
    "status_components": (list, ["API", "Console", "Database", "Cache", "CDN"],
                          "components the status page must list (9.2.1)"),
    "dns_records": (dict, None, "name in the zone -> the address (A) or name (CNAME) it must point at (10.2.1)"),
    "dns_cutover_names": (list, ["api", "console", "cdn"], "names a go-live cutover changes (10.1.3)"),
    "dns_max_ttl": (int, 60, "highest TTL on those names, in seconds (10.1.3)"),
    "staging_smoke_max_age_hours": (Number, 72, "staging's signed record must be this recent (10.1.1)"),
}

_TOP = {"description": str, "extends": str, "env_file": str, "targets": dict,
        "expectations": dict, "absent": dict,
        # go_live: an RFC 3339 string or a TOML date-time, checked by phases.parse_go_live
        "go_live": object, "evidence": dict,
        # production = true: options that load a target (--apex-probe) are refused on this profile
        "production": bool}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TYPE_NAMES: dict[Any, str] = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
                               dict: "a table", Secret: "a string (secret)", Number: "a number"}


@dataclass
class Profile:
    name: str
    path: Path
    description: str = ""
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    expectations: dict[str, Any] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)
    #: files the profile was assembled from, base first
    sources: tuple[Path, ...] = ()
    #: go-live time as written (str or datetime); pytest_apexready.phases parses it
    go_live: Any = None
    #: where evidence outside the targets is read ([evidence]: manifests, staging_store, ...; see continuous.py)
    evidence: dict[str, Any] = field(default_factory=dict)
    #: top-level ``production = true``: --apex-probe is refused
    production: bool = False

    def secrets(self) -> list[str]:
        return [v.reveal() for t in self.targets.values() for v in t.values()
                if isinstance(v, Secret) and v.reveal()]

    def target(self, name: str) -> dict[str, Any] | None:
        return self.targets.get(name)


def _suggest(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_ok(value: Any, expected: Any) -> bool:
    if expected is Secret:
        return isinstance(value, str)
    if expected is Number:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


class _Loader:
    def __init__(self, env_dir: Path, rootdir: Path, environ: dict[str, str]):
        self.env_dir, self.rootdir, self.environ = env_dir, rootdir, environ

    def fail(self, path: Path, key: str | None, problem: str, fix: str) -> NoReturn:
        where = f"{self._show(path)}" + (f", key {key!r}" if key else "")
        raise pytest.UsageError(f"apexready: environment profile {where}: {problem}. Fix: {fix}")

    def _show(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.rootdir))
        except ValueError:
            return str(path)

    def locate(self, name: str) -> Path:
        candidate = Path(name)
        if candidate.suffix == ".toml":
            return candidate if candidate.is_absolute() else (self.rootdir / candidate)
        return self.env_dir / f"{name}.toml"

    def read(self, path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], tuple[Path, ...]]:
        if path in chain:
            self.fail(path, "extends", "profiles extend each other in a cycle: "
                      + " -> ".join(self._show(p) for p in (*chain, path)), "break the cycle")
        if not path.is_file():
            known = sorted(p.stem for p in self.env_dir.glob("*.toml")) if self.env_dir.is_dir() else []
            self.fail(path, None, "no such file",
                      f"pass --env with one of {known or 'no profiles'} "
                      f"(profiles live in {self._show(self.env_dir)}/), "
                      "or create the file")
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            self.fail(path, None, f"is not valid TOML ({exc})", "correct the syntax at the position given")
        for key, value in data.items():
            if key not in _TOP:
                self.fail(path, key, "unknown top-level key" + _suggest(key, _TOP),
                          f"use only {sorted(_TOP)}")
            if not _type_ok(value, _TOP[key]):
                self.fail(path, key, f"must be {_TYPE_NAMES[_TOP[key]]}, got {type(value).__name__}",
                          f"write {key} as {_TYPE_NAMES[_TOP[key]]}")
        if "extends" in data:
            base, sources = self.read(self.locate(data["extends"]), (*chain, path))
            return _merge(base, {k: v for k, v in data.items() if k != "extends"}), (*sources, path)
        return data, (path,)

    def env_file_vars(self, data: dict[str, Any], path: Path) -> tuple[dict[str, str], Path | None]:
        if "env_file" not in data:
            return {}, None
        env_path = self.rootdir / data["env_file"]
        if not env_path.is_file():
            return {}, env_path
        values = {}
        for line in env_path.read_text("utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                values[k.strip().removeprefix("export ").strip()] = v.strip().strip("'\"")
        return values, env_path

    def validate(self, name: str, data: dict[str, Any], sources: tuple[Path, ...]) -> Profile:
        path = sources[-1]
        file_vars, env_path = self.env_file_vars(data, path)

        def resolve(value: str, key: str) -> str:
            def sub(m: re.Match[str]) -> str:
                var = m.group(1)
                if var in self.environ:
                    return self.environ[var]
                if var in file_vars:
                    return file_vars[var]
                hint = ""
                if env_path is not None:
                    hint = f", or run `python -m sandbox up` to create {self._show(env_path)}" \
                        if not env_path.exists() else f", or add it to {self._show(env_path)}"
                self.fail(path, key, f"environment variable {var} is not set",
                          f"export {var}=...{hint}")
            return _VAR.sub(sub, value)

        targets: dict[str, dict[str, Any]] = {}
        for tname, table in data.get("targets", {}).items():
            key = f"targets.{tname}"
            kind = KINDS.get(tname)
            if kind is None:
                self.fail(path, key, "unknown target" + _suggest(tname, KINDS),
                          f"target kinds are {sorted(KINDS)}; a kind that is not listed has no client yet "
                          "(a new one is added in pytest_apexready/targets/registry.py)")
            if not isinstance(table, dict):
                self.fail(path, key, "must be a table", f"write it as [{key}]")
            schema = kind.schema
            out: dict[str, Any] = {}
            for k, v in table.items():
                full = f"{key}.{k}"
                if k not in schema:
                    self.fail(path, full, "unknown key" + _suggest(k, schema), f"keys of [{key}] are {sorted(schema)}")
                if not _type_ok(v, schema[k]):
                    self.fail(path, full,
                              f"must be {_TYPE_NAMES[schema[k]]}, got {type(v).__name__} {_safe(v, schema[k])}",
                              f"write {k} as {_TYPE_NAMES[schema[k]]}")
                if isinstance(v, str):
                    v = resolve(v, full)
                if k == "kubeconfig" and v != "in-cluster" and not v.startswith(("/", "~")):
                    v = str(self.rootdir / v)  # relative to the project root, like env_file
                out[k] = Secret(v) if schema[k] is Secret else v
            targets[tname] = out

        expectations = {k: default for k, (_, default, _) in EXPECTATIONS.items()}
        for k, v in data.get("expectations", {}).items():
            full = f"expectations.{k}"
            if k not in EXPECTATIONS:
                self.fail(path, full, "unknown expectation" + _suggest(k, EXPECTATIONS),
                          f"expectations are {sorted(EXPECTATIONS)}")
            typ = EXPECTATIONS[k][0]
            if not _type_ok(v, typ):
                self.fail(path, full, f"must be {_TYPE_NAMES[typ]}, got {type(v).__name__} {v!r}",
                          f"write {k} as {_TYPE_NAMES[typ]}")
            if k == "redis_ttls" and not all(isinstance(x, int) and not isinstance(x, bool) for x in v.values()):
                self.fail(path, full, "every value must be an integer number of seconds",
                          f'write it as {k} = {{ "session:*" = 1800 }}')
            expectations[k] = v

        absent = {}
        for comp, reason in data.get("absent", {}).items():
            full = f"absent.{comp}"
            if comp not in COMPONENTS:
                self.fail(path, full, "unknown component" + _suggest(comp, COMPONENTS),
                          f"components are {list(COMPONENTS)}")
            if not isinstance(reason, str) or not reason.strip():
                self.fail(path, full, "must be a non-empty reason string", f'write {comp} = "why it is absent"')
            absent[comp] = reason
        return Profile(name=name, path=path, description=data.get("description", ""), targets=targets,
                       expectations=expectations, absent=absent, sources=sources,
                       go_live=data.get("go_live"), evidence=data.get("evidence", {}),
                       production=bool(data.get("production", False)))


def _safe(value: Any, typ: Any) -> str:
    return "(value hidden)" if typ is Secret else repr(value)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_profile(name: str, env_dir: Path, rootdir: Path, environ: dict[str, str] | None = None) -> Profile:
    """Load ``env_dir/NAME.toml`` (or a path ending in .toml), following ``extends``."""
    loader = _Loader(env_dir, rootdir, dict(os.environ if environ is None else environ))
    data, sources = loader.read(loader.locate(name), ())
    return loader.validate(Path(name).stem, data, sources)


def expectations_table() -> str:
    """The README's expectations table, between ``<!-- expectations:begin -->`` and ``<!-- expectations:end -->``.

    ``python -c "from pytest_apexready.profile import expectations_table as t; print(t(), end='')"`` prints it;
    tests/test_plugin_core.py checks that the README holds exactly this.
    """
    def default(value: Any) -> str:
        return "(none: set it)" if value is None else f"`{value!r}`".replace("|", "\\|")

    rows = [f"| `{name}` | {_TYPE_NAMES[typ]} | {default(dflt)} | {meaning.replace('|', '/')} |"
            for name, (typ, dflt, meaning) in EXPECTATIONS.items()]
    return "\n".join(["| expectation | type | default | what it is (and why that default) |", "|---|---|---|---|",
                      *rows]) + "\n"
