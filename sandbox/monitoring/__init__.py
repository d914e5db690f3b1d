"""The sandbox's observability stack: Prometheus, Alertmanager, exporters, logs, dashboards.

Two stacks share this code:

- ``compliant`` (started by ``python -m sandbox up``): Prometheus (Debian) scraping the edge API's
  /metrics (sandbox/edge/api, port 28300, exempt from its rate limiter) plus a business-metrics
  stand-in for the counters the API moves only on writing routes (``api_stub.py --business-only``,
  target label ``source="business-stand-in"``), the PostgreSQL, Redis and node exporters (Debian),
  Alertmanager and itself, with
  ``monitoring/alerts.yml``; Alertmanager (Debian, clustering off) routing critical to Slack
  #platform-alerts and PagerDuty and warning to email, every receiver pointing at the local sink;
  VictoriaLogs fed by the log shipper; the Grafana API stand-in serving ``monitoring/dashboards``.
- ``drifted`` (started by the self-tests, ``start(DRIFTED)``): the failing direction. Its
  Prometheus has a target down (a closed port) and does not scrape the node exporter, loads
  ``drifted/alerts.yml`` (no AI cost rules, a critical rule without ``for:`` or test); its
  Alertmanager has no PagerDuty route; its dashboards (``drifted/dashboards``) have panels without
  data and no AI spend by service, and the system-health one is listed but refused (403); its API
  is the whole stand-in (``api_stub.py``, request and business metrics) without sdk_crashes_total
  and stripe_revenue_cents, which the self-test drives to 6 % errors and p95 about 900 ms
  (``python -m sandbox traffic --target stand-in --url ... --error-percent 6 --slow-percent 25``):
  an API of our own can be made to fail without touching the edge API others read.

Generated configuration and data live in ``.sandbox/monitoring/<stack>/``; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..common import (
    CREDENTIALS_FILE,
    HOST,
    REPO_ROOT,
    SANDBOX_DIR,
    SandboxError,
    pid_alive,
    process_cmdline,
    read_env_file,
    read_pidfile,
    stop_pid,
)
from ..edge.config import PORTS as EDGE_PORTS
from ..parts import Ctx, Row

MONITORING = REPO_ROOT / "monitoring"
DRIFTED_ASSETS = Path(__file__).resolve().parent / "drifted"
GRAFANA_TOKEN_VAR = "APEX_GRAFANA_TOKEN"


@dataclass(frozen=True)
class Stack:
    name: str
    ports: dict[str, int]
    drifted: bool = False
    #: only the compliant stack runs the exporters, VictoriaLogs and the log shipper (the drifted one reuses them)
    shared: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return SANDBOX_DIR / "monitoring" / self.name

    def url(self, component: str) -> str:
        return f"http://{HOST}:{self.ports[component]}"

    @property
    def rules(self) -> Path:
        return (DRIFTED_ASSETS if self.drifted else MONITORING) / "alerts.yml"

    @property
    def dashboards(self) -> Path:
        return (DRIFTED_ASSETS if self.drifted else MONITORING) / "dashboards"


#: node exporter's textfile collector reads *.prom here: `pytest --apex-metrics` writes the checklist's own
#: state into it (scripts/check-local.sh does), so the sandbox's Prometheus scrapes it
TEXTFILE_DIR = SANDBOX_DIR / "monitoring" / "textfile"
CHECKLIST_METRICS = TEXTFILE_DIR / "apexready.prom"

EXPORTER_PORTS = {"node": 29100, "postgres_exporter": 29187, "redis_exporter": 29121, "victorialogs": 29428}
#: "api" is the API Prometheus scrapes and `traffic` drives: the edge API for the compliant stack (started by
#: the edge component), our stand-in for the drifted one; "business" is the compliant stack's business stand-in
COMPLIANT = Stack("compliant", {"api": EDGE_PORTS["api"], "business": 29080, "prometheus": 29090,
                                "alertmanager": 29093, "sink": 29095, "smtp": 29025, "grafana": 29300,
                                **EXPORTER_PORTS}, shared=True)
DRIFTED = Stack("drifted", {"api": 30080, "prometheus": 30090, "alertmanager": 30093, "sink": 30095,
                            "smtp": 30025, "grafana": 30300, "closed": 30999, **EXPORTER_PORTS}, drifted=True)
STACKS = {s.name: s for s in (COMPLIANT, DRIFTED)}
#: service label -> log file the shipper sends to VictoriaLogs
LOG_SOURCES = {
    "apexmediation-api": SANDBOX_DIR / "edge" / "logs" / "api.log",   # the edge API's stdout, a line per request
    "prometheus": COMPLIANT.dir / "logs" / "prometheus.log",
    "alertmanager": COMPLIANT.dir / "logs" / "alertmanager.log",
    "postgres": SANDBOX_DIR / "pg" / "primary.log",
    "redis": SANDBOX_DIR / "redis" / "primary" / "redis.log",
}


# --------------------------------------------------------------------------- configuration

def prometheus_config(stack: Stack) -> dict[str, Any]:
    def job(name: str, port: int) -> dict[str, Any]:
        return {"job_name": name, "static_configs": [{"targets": [f"{HOST}:{port}"]}]}

    p = stack.ports
    api = job("apexmediation-api", p["api"])
    if "business" in p:
        # the counters the edge API moves only on writing routes come from the stand-in, labelled as such
        api["static_configs"].append({"targets": [f"{HOST}:{p['business']}"],
                                      "labels": {"source": "business-stand-in"}})
    jobs = [job("prometheus", p["prometheus"]), job("alertmanager", p["alertmanager"]), api,
            job("postgres", p["postgres_exporter"])]
    if stack.drifted:
        jobs.append(job("redis", p["closed"]))     # a target down; and "node" is not scraped at all
    else:
        jobs += [job("redis", p["redis_exporter"]), job("node", p["node"])]
    return {"global": {"scrape_interval": "2s", "scrape_timeout": "1s", "evaluation_interval": "2s",
                       "external_labels": {"sandbox": stack.name}},
            "rule_files": [str(stack.rules)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{p['alertmanager']}"]}]}]},
            "scrape_configs": jobs}


def alertmanager_config(stack: Stack, pagerduty_key: str) -> dict[str, Any]:
    sink = stack.url("sink")
    routes: list[dict[str, Any]] = [
        {"matchers": ['severity="critical"'], "receiver": "slack-platform-alerts", "continue": True},
        {"matchers": ['severity="critical"'], "receiver": "pagerduty-oncall"},
        {"matchers": ['severity="warning"'], "receiver": "email-oncall"},
    ]
    if stack.drifted:
        routes = [routes[0] | {"continue": False}, routes[2]]   # no PagerDuty route
    return {
        "global": {"resolve_timeout": "5m", "smtp_smarthost": f"{HOST}:{stack.ports['smtp']}",
                   "smtp_from": "alertmanager@apexmediation.local", "smtp_require_tls": False},
        "route": {"receiver": "email-oncall", "group_by": ["alertname", "job"], "group_wait": "2s",
                  "group_interval": "10s", "repeat_interval": "1h", "routes": routes},
        "receivers": [
            {"name": "slack-platform-alerts", "slack_configs": [
                {"api_url": f"{sink}/slack", "channel": "#platform-alerts", "send_resolved": True}]},
            {"name": "pagerduty-oncall", "pagerduty_configs": [
                {"routing_key": pagerduty_key, "url": f"{sink}/pagerduty"}]},
            {"name": "email-oncall", "email_configs": [{"to": "oncall@apexmediation.local"}]},
        ],
    }


def _secret_file(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(16))
    return path.read_text().strip()


def grafana_token() -> str:
    """The stand-in's bearer token, kept in credentials.env (the profile reads it as ${APEX_GRAFANA_TOKEN})."""
    values = read_env_file(CREDENTIALS_FILE) if CREDENTIALS_FILE.exists() else {}
    if not values.get(GRAFANA_TOKEN_VAR):
        values[GRAFANA_TOKEN_VAR] = secrets.token_hex(16)
        CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        with CREDENTIALS_FILE.open("a", encoding="utf-8") as fh:
            fh.write(f"{GRAFANA_TOKEN_VAR}={values[GRAFANA_TOKEN_VAR]}\n")
        os.chmod(CREDENTIALS_FILE, 0o600)
    return values[GRAFANA_TOKEN_VAR]


# --------------------------------------------------------------------------- processes

@dataclass
class Proc:
    name: str
    cmd: list[str]
    ready: str                  # URL answering 200 when ready
    env: dict[str, str] = field(default_factory=dict)
    marker: str = ""            # a string of its command line that identifies it (pid reuse)


def _pidfile(stack: Stack, name: str) -> Path:
    return stack.dir / "run" / f"{name}.pid"


def running(stack: Stack, name: str, marker: str = "") -> int | None:
    pid = read_pidfile(_pidfile(stack, name))
    if pid_alive(pid) and (not marker or marker in process_cmdline(pid)):
        return pid
    return None


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _spawn(stack: Stack, proc: Proc) -> int:
    (stack.dir / "logs").mkdir(parents=True, exist_ok=True)
    (stack.dir / "run").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **proc.env, "PYTHONPATH": str(REPO_ROOT)}
    with open(stack.dir / "logs" / f"{proc.name}.log", "ab") as log:
        p = subprocess.Popen(proc.cmd, cwd=stack.dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    _pidfile(stack, proc.name).write_text(f"{p.pid}\n")
    return p.pid


def processes(stack: Stack) -> list[Proc]:
    from ..common import load_credentials

    d, p, py = stack.dir, stack.ports, sys.executable
    am_key = _secret_file(d / "pagerduty.key")
    (d / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(stack), sort_keys=False))
    (d / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(stack, am_key), sort_keys=False))
    if stack.drifted:
        stub = Proc("api", [py, "-m", "sandbox.monitoring.api_stub", "--port", str(p["api"]),
                            "--drop", "sdk_crashes_total,stripe_revenue_cents"],
                    f"{stack.url('api')}/health", marker="sandbox.monitoring.api_stub")
    else:
        stub = Proc("business", [py, "-m", "sandbox.monitoring.api_stub", "--port", str(p["business"]),
                                 "--business-only"], f"{stack.url('business')}/health",
                    marker="sandbox.monitoring.api_stub")
    procs = [
        stub,
        Proc("sink", [py, "-m", "sandbox.monitoring.sink", "--http-port", str(p["sink"]), "--smtp-port",
                      str(p["smtp"]), "--out", str(d / "received.jsonl")], f"{stack.url('sink')}/health",
             marker="sandbox.monitoring.sink"),
        Proc("alertmanager", ["prometheus-alertmanager", f"--config.file={d / 'alertmanager.yml'}",
                              f"--storage.path={d / 'alertmanager-data'}",
                              f"--web.listen-address={HOST}:{p['alertmanager']}", "--cluster.listen-address="],
             f"{stack.url('alertmanager')}/-/ready", marker="alertmanager"),
        Proc("prometheus", ["prometheus", f"--config.file={d / 'prometheus.yml'}",
                            f"--storage.tsdb.path={d / 'prometheus-data'}", "--storage.tsdb.retention.time=3d",
                            f"--web.listen-address={HOST}:{p['prometheus']}"],
             f"{stack.url('prometheus')}/-/ready", marker="prometheus"),
        Proc("grafana", [py, "-m", "sandbox.monitoring.grafana_standin", "--port", str(p["grafana"]),
                         "--dashboards", str(stack.dashboards), "--prometheus-url", stack.url("prometheus"),
                         "--token-env", GRAFANA_TOKEN_VAR,
                         *(["--forbid", "apex-system-health"] if stack.drifted else [])],
             f"{stack.url('grafana')}/api/health", env={GRAFANA_TOKEN_VAR: grafana_token()},
             marker="grafana_standin"),
    ]
    if stack.shared:
        try:
            creds = load_credentials()
        except SandboxError:
            creds = {}
        procs += [
            Proc("node", ["prometheus-node-exporter", f"--web.listen-address={HOST}:{p['node']}",
                          "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo",
                          "--collector.filesystem", "--collector.netdev", "--collector.loadavg",
                          "--collector.textfile", f"--collector.textfile.directory={TEXTFILE_DIR}"],
                 f"http://{HOST}:{p['node']}/metrics", marker="node-exporter"),
            Proc("postgres_exporter", ["prometheus-postgres-exporter",
                                       f"--web.listen-address={HOST}:{p['postgres_exporter']}"],
                 f"http://{HOST}:{p['postgres_exporter']}/metrics", marker="postgres-exporter",
                 env={"DATA_SOURCE_NAME": f"postgresql://postgres:{creds.get('APEX_PG_ADMIN_PASSWORD', '')}"
                                          f"@{HOST}:25432/apexmediation?sslmode=disable"}),
            Proc("redis_exporter", ["prometheus-redis-exporter", f"-web.listen-address={HOST}:{p['redis_exporter']}",
                                    f"-redis.addr=redis://{HOST}:26379", "-redis.user=apex_admin"],
                 f"http://{HOST}:{p['redis_exporter']}/metrics", marker="redis-exporter",
                 env={"REDIS_PASSWORD": creds.get("APEX_REDIS_ADMIN_PASSWORD", "")}),
        ]
        from .build import victorialogs_binary

        procs.append(Proc("victorialogs", [str(victorialogs_binary()), f"-httpListenAddr={HOST}:{p['victorialogs']}",
                                           f"-storageDataPath={d / 'victorialogs-data'}", "-retentionPeriod=7d",
                                           "-loggerLevel=WARN"],
                          f"http://{HOST}:{p['victorialogs']}/health", marker="victoria-logs"))
        procs.append(Proc("logship", [py, "-m", "sandbox.monitoring.logship", "--url",
                                      f"http://{HOST}:{p['victorialogs']}"]
                          + [f"--file={svc}={path}" for svc, path in LOG_SOURCES.items()],
                          "", marker="sandbox.monitoring.logship"))
    return procs


def start(stack: Stack, log: Callable[[str], None] = print, timeout: float = 60) -> dict[str, int]:
    """Start whatever of the stack is not running (idempotent); wait until each answers. Returns pids."""
    stack.dir.mkdir(parents=True, exist_ok=True)
    TEXTFILE_DIR.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    pids: dict[str, int] = {}
    procs = processes(stack)
    _retire(stack, {proc.name for proc in procs}, log)
    for proc in procs:
        pid = running(stack, proc.name, proc.marker)
        if pid and process_cmdline(pid) != " ".join(proc.cmd):
            # started with other arguments by an older version of this module: restart it
            stop_pid(pid, kill_group=True, timeout=10)
            pid = None
        if pid and (not proc.ready or _http_ok(proc.ready)):
            if _config_changed(stack, proc.name):
                os.kill(pid, signal.SIGHUP)   # both reload their configuration on SIGHUP, keeping their data
                _config_changed(stack, proc.name, loaded=True)
                log(f"{stack.name}: {proc.name} reloaded its changed configuration")
            pids[proc.name] = pid
            continue
        if pid:
            stop_pid(pid, kill_group=True, timeout=10)
        if stack.drifted and proc.name in ("prometheus", "alertmanager"):
            # the failing direction starts from empty history: old days of samples would pass 11.2.2
            shutil.rmtree(stack.dir / f"{proc.name}-data", ignore_errors=True)
        pids[proc.name] = _spawn(stack, proc)
        _config_changed(stack, proc.name, loaded=True)
    deadline = time.monotonic() + timeout
    for proc in procs:
        while proc.ready and not _http_ok(proc.ready):
            if not pid_alive(pids[proc.name]):
                tail = (stack.dir / "logs" / f"{proc.name}.log").read_text(errors="replace").splitlines()[-10:]
                raise SandboxError(f"monitoring {stack.name}: {proc.name} exited\n" + "\n".join(tail))
            if time.monotonic() > deadline:
                raise SandboxError(f"monitoring {stack.name}: {proc.name} not ready at {proc.ready} after {timeout}s")
            time.sleep(0.05)
    log(f"{stack.name} stack ready in {time.monotonic() - t0:.1f}s: prometheus {stack.url('prometheus')}, "
        f"alertmanager {stack.url('alertmanager')}, grafana API stand-in {stack.url('grafana')}")
    return pids


def _config_changed(stack: Stack, name: str, loaded: bool = False) -> bool:
    """Whether <name>.yml differs from what the running process loaded (a hash kept in run/); with
    ``loaded``, record that it has loaded the current one. Only Prometheus and Alertmanager have one."""
    config, seen = stack.dir / f"{name}.yml", stack.dir / "run" / f"{name}.loaded"
    if name not in ("prometheus", "alertmanager") or not config.exists():
        return False
    digest = hashlib.sha256(config.read_bytes()).hexdigest()
    if loaded:
        seen.write_text(digest)
    return not seen.exists() or seen.read_text() != digest


def _retire(stack: Stack, current: set[str], log: Callable[[str], None]) -> None:
    """Stop what an older version of the stack ran under a name it no longer has (the compliant "api")."""
    for pidfile in sorted((stack.dir / "run").glob("*.pid")):
        if pidfile.stem not in current:
            pid = read_pidfile(pidfile)
            if pid_alive(pid):
                stop_pid(pid, kill_group=True, timeout=10)
                log(f"{stack.name}: stopped {pidfile.stem} (pid {pid}), no longer part of the stack")
            pidfile.unlink(missing_ok=True)


def stop(stack: Stack, log: Callable[[str], None] = print) -> None:
    for proc_name in ("logship", "victorialogs", "grafana", "prometheus", "alertmanager", "sink", "api", "business",
                      "redis_exporter", "postgres_exporter", "node"):
        pid = read_pidfile(_pidfile(stack, proc_name))
        if pid_alive(pid):
            stop_pid(pid, kill_group=True, timeout=15)
            log(f"{stack.name}: stopped {proc_name} (pid {pid})")
        _pidfile(stack, proc_name).unlink(missing_ok=True)


def status(stack: Stack) -> list[dict[str, Any]]:
    rows = []
    for proc in processes(stack):
        pid = running(stack, proc.name, proc.marker)
        ok = bool(pid) and (not proc.ready or _http_ok(proc.ready))
        rows.append({"component": f"monitoring:{proc.name}", "state": "running" if ok else "stopped", "pid": pid,
                     "address": proc.ready.split("/")[2] if proc.ready else "-", "detail": stack.name})
    return rows


# The sandbox part (sandbox/parts.py): `up` runs the compliant stack (tests start the drifted one); `down` stops both.
def part_up(ctx: Ctx) -> None:
    start(COMPLIANT, log=ctx.log("monitoring"))


def part_down(ctx: Ctx) -> None:
    for stack in STACKS.values():
        stop(stack, log=ctx.log("monitoring"))


def part_status(ctx: Ctx) -> list[Row]:
    return status(COMPLIANT)
