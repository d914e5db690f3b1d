"""Section 3 "Application Deployment", the Kubernetes half of sections 1, 4 and 5, read live.

Every check reads objects through the ``kubernetes`` client, which lists each kind once
per namespace (paginated) and shares the lists across items and workloads. Spec and live
state are both read: ready replicas, PDB allowed disruptions, last successful Job.
Secret *values* are never recorded: only key names, lengths, and the feature flags.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from pytest_apexready import check, fail_check

RELEASE_TAG = re.compile(r"^(?:[0-9a-f]{7,40}|v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)$")
SECRETISH_KEY = re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key|credential|dsn)")
SECRETISH_VALUE = re.compile(r"(?i)(^sk[-_]|^whsec_|^xox[bp]-|-----BEGIN [A-Z ]*PRIVATE KEY|://[^/\s:@]+:[^/\s@]+@|^AKIA[0-9A-Z]{12,})")
BROAD_ROLES = {"cluster-admin", "admin", "edit"}


# --------------------------------------------------------------------------- helpers

def _where(kubernetes, what: str) -> str:
    return f"{what} via {kubernetes.where}, namespace {kubernetes.namespace}"


def _deployment(kubernetes, name: str) -> dict[str, Any]:
    obj = kubernetes.named("Deployment", name)
    if obj is None:
        fail_check(f"Deployment {name}", observed="absent", expected="present",
                   where=_where(kubernetes, "GET deployments"))
    return obj


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"] if "jobTemplate" in spec else spec["template"]["spec"]
    return pod.get("containers", [])


def _image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _secret_data(kubernetes, name: str) -> dict[str, str] | None:
    secret = kubernetes.named("Secret", name)
    if secret is None:
        return None
    return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}


def _replicas(dep: dict[str, Any]) -> dict[str, int]:
    status = dep.get("status", {})
    return {"spec": dep["spec"].get("replicas", 1), "ready": status.get("readyReplicas", 0),
            "updated": status.get("updatedReplicas", 0), "available": status.get("availableReplicas", 0)}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    spec = obj["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    return template.get("metadata", {}).get("labels", {})


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


# --------------------------------------------------------------------------- section 1

@check("1.1.1")
def test_cluster_version_and_nodes(kubernetes, expect, evidence):
    where = _where(kubernetes, "GET /version and nodes")
    version = kubernetes.version()
    nodes = kubernetes.list("Node")
    ready = [n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))]
    evidence.record("gitVersion", version.get("gitVersion"), source=where)
    evidence.record("ready_nodes", ready, source=where)
    have = tuple(int(x) for x in re.findall(r"\d+", f"{version.get('major', 0)}.{version.get('minor', 0)}")[:2])
    want = tuple(int(x) for x in expect["kubernetes_min_version"].split(".")[:2])
    if have < want:
        fail_check("Kubernetes version", observed=version.get("gitVersion"), expected=f">= {expect['kubernetes_min_version']}",
                   where=where)
    if not ready:
        fail_check("nodes", observed=f"{len(nodes)} nodes, none Ready", expected="at least one Ready node", where=where)


@check("1.3.5")
def test_backup_cronjobs(kubernetes, expect, evidence):
    where = _where(kubernetes, "GET cronjobs")
    cronjobs = {c["metadata"]["name"]: c for c in kubernetes.list("CronJob")}
    wanted = expect["backup_cronjobs"]
    found = {n: {"schedule": cronjobs[n]["spec"]["schedule"], "suspend": cronjobs[n]["spec"].get("suspend", False),
                 "lastSuccessfulTime": cronjobs[n].get("status", {}).get("lastSuccessfulTime")}
             for n in wanted if n in cronjobs}
    evidence.record("backup_cronjobs", found, source=where)
    evidence.record("aws_half", "snapshot retention and S3 exports are read by the AWS checks", source="apexready")
    missing = [n for n in wanted if n not in cronjobs]
    suspended = [n for n, v in found.items() if v["suspend"]]
    not_daily = [n for n, v in found.items() if not _at_least_daily(v["schedule"])]
    if missing or suspended or not_daily:
        fail_check("backup CronJobs", observed={"missing": missing, "suspended": suspended, "less than daily": not_daily},
                   expected=f"{wanted} scheduled at least daily and not suspended", where=where)


def _at_least_daily(schedule: str) -> bool:
    fields = schedule.split()
    if schedule.startswith("@"):
        return schedule in ("@daily", "@midnight", "@hourly")
    return len(fields) == 5 and fields[2] == "*" and fields[3] == "*" and fields[4] == "*"


# --------------------------------------------------------------------------- 3.1 Backend API

@check("3.1.1")
def test_backend_image_tagged_with_release(kubernetes, workload, evidence):
    _image_check(kubernetes, workload, evidence)


def _image_check(kubernetes, name: str, evidence) -> None:
    where = _where(kubernetes, f"GET deployment {name}")
    dep = _deployment(kubernetes, name)
    images = {c["name"]: c["image"] for c in _containers(dep)}
    replicas = _replicas(dep)
    evidence.record("images", images, source=where)
    evidence.record("replicas", replicas, source=where)
    evidence.record("registry_half", "the registry listing is read outside Kubernetes; here: the tag, and that "
                    "pods with it run (the image was pulled)", source="apexready")
    bad = {c: img for c, img in images.items() if not RELEASE_TAG.match(_image_tag(img) or "")}
    if bad:
        fail_check(f"image tags of {name}", observed=bad, expected="a tag matching a git SHA (7-40 hex) or a release "
                   "version (v1.2.3); never latest or untagged", where=where)
    if replicas["updated"] < replicas["spec"] or replicas["ready"] < replicas["spec"]:
        fail_check(f"rollout of {name}", observed=replicas, expected="every replica updated to this image and ready",
                   where=where)


@check("3.1.2")
def test_backend_environment(kubernetes, expect, workload, evidence):
    name = kubernetes.settings.get("backend_secret", "backend-secrets")
    where = _where(kubernetes, f"GET secret {name}, deployment {workload}")
    data = _secret_data(kubernetes, name)
    if data is None:
        fail_check(f"Secret {name}", observed="absent", expected="present", where=where)
    evidence.record("keys", sorted(data), source=where)  # names only: values are secrets
    required = ("DATABASE_URL", "OPENAI_API_KEY", "STRIPE_SECRET_KEY")
    problems = []
    if len(data) < expect["backend_min_env_vars"]:
        problems.append(f"{len(data)} variables")
    problems += [f"{k} missing" for k in required if k not in data]
    problems += [f"{k} empty" for k, v in data.items() if not v.strip()]
    dep = _deployment(kubernetes, workload)
    uses = [c["name"] for c in _containers(dep)
            if any((ref.get("secretRef") or {}).get("name") == name for ref in c.get("envFrom", []))]
    evidence.record("containers_using_secret", uses, source=where)
    if not uses:
        problems.append(f"deployment {workload} does not load {name} (envFrom)")
    if problems:
        fail_check("backend environment", observed=problems,
                   expected=f"{expect['backend_min_env_vars']}+ non-empty variables incl. {', '.join(required)}, "
                            f"loaded by {workload}", where=where)


@check("3.1.3")
def test_resources_defined(kubernetes, workload, evidence):
    where = _where(kubernetes, f"GET deployment {workload}")
    dep = _deployment(kubernetes, workload)
    resources = {c["name"]: c.get("resources", {}) for c in _containers(dep)}
    evidence.record("resources", resources, source=where)
    missing = [f"{c}: {part}.{res}" for c, r in resources.items() for part in ("requests", "limits")
               for res in ("cpu", "memory") if res not in (r.get(part) or {})]
    if missing:
        fail_check(f"resources of {workload}", observed=f"missing {missing}",
                   expected="cpu and memory requests and limits on every container", where=where)


def _probe_check(kubernetes, workload: str, evidence, kind: str) -> dict[str, Any]:
    where = _where(kubernetes, f"GET deployment {workload}")
    dep = _deployment(kubernetes, workload)
    probes = {c["name"]: c.get(kind) for c in _containers(dep)}
    evidence.record(kind, probes, source=where)
    missing = [c for c, p in probes.items() if not p]
    if missing:
        fail_check(f"{kind} of {workload}", observed=f"none on {missing}", expected=f"a {kind} on every container",
                   where=where)
    return dep


@check("3.1.4")
def test_health_endpoint_probed(kubernetes, workload, evidence):
    where = _where(kubernetes, f"GET deployment {workload}")
    dep = _probe_check(kubernetes, workload, evidence, "readinessProbe")
    paths = {c["name"]: [(c.get(p) or {}).get("httpGet", {}).get("path") for p in ("readinessProbe", "livenessProbe")]
             for c in _containers(dep)}
    replicas = _replicas(dep)
    evidence.record("probe_paths", paths, source=where)
    evidence.record("replicas", replicas, source=where)
    evidence.record("http_half", "GET /health over HTTP is the http checks' part; here: the probes the kubelet runs "
                    "against /health, and the pods they keep Ready", source="apexready")
    not_health = {c: p for c, p in paths.items() if "/health" not in p}
    if not_health:
        fail_check(f"health checks of {workload}", observed=not_health, expected="probes on /health", where=where)
    if replicas["ready"] < replicas["spec"]:
        fail_check(f"healthy pods of {workload}", observed=f"{replicas['ready']} of {replicas['spec']} ready",
                   expected="all replicas passing /health", where=where)


@check("3.1.5")
def test_readiness_probe(kubernetes, workload, evidence):
    dep = _probe_check(kubernetes, workload, evidence, "readinessProbe")
    strategy = dep["spec"].get("strategy", {})
    evidence.record("strategy", strategy, source=_where(kubernetes, f"GET deployment {workload}"))


@check("3.1.6")
def test_liveness_probe(kubernetes, workload, evidence):
    _probe_check(kubernetes, workload, evidence, "livenessProbe")


@check("3.1.7")
def test_backend_replicas(kubernetes, expect, workload, evidence):
    _replica_check(kubernetes, workload, expect["backend_min_replicas"], evidence)


def _replica_check(kubernetes, name: str, minimum: int, evidence) -> None:
    where = _where(kubernetes, f"GET deployment {name} (spec.replicas, status.readyReplicas)")
    replicas = _replicas(_deployment(kubernetes, name))
    evidence.record("replicas", replicas, source=where)
    if replicas["spec"] < minimum or replicas["ready"] < minimum:
        fail_check(f"replicas of {name}", observed=f"{replicas['spec']} desired, {replicas['ready']} ready",
                   expected=f"at least {minimum} desired and ready", where=where)


@check("3.1.8")
def test_hpa(kubernetes, expect, workload, evidence):
    where = _where(kubernetes, "GET horizontalpodautoscalers")
    hpas = [h for h in kubernetes.list("HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"].get("kind") == "Deployment" and h["spec"]["scaleTargetRef"]["name"] == workload]
    if not hpas:
        fail_check(f"HPA for {workload}", observed="none", expected=f"an HPA scaling {workload}", where=where)
    spec = hpas[0]["spec"]
    observed = {"minReplicas": spec.get("minReplicas", 1), "maxReplicas": spec["maxReplicas"],
                "currentReplicas": hpas[0].get("status", {}).get("currentReplicas")}
    evidence.record("hpa", {"name": hpas[0]["metadata"]["name"], **observed}, source=where)
    want = (expect["hpa_min_replicas"], expect["hpa_max_replicas"])
    if (observed["minReplicas"], observed["maxReplicas"]) != want:
        fail_check(f"HPA for {workload}", observed=f"{observed['minReplicas']} to {observed['maxReplicas']} replicas",
                   expected=f"{want[0]} to {want[1]} replicas", where=where)


@check("3.1.9")
def test_pdb(kubernetes, expect, workload, evidence):
    where = _where(kubernetes, "GET poddisruptionbudgets")
    labels = _pod_labels(_deployment(kubernetes, workload))
    pdbs = [p for p in kubernetes.list("PodDisruptionBudget") if _selects(p["spec"].get("selector") or {}, labels)]
    if not pdbs:
        fail_check(f"PodDisruptionBudget for {workload}", observed="none selects its pods",
                   expected=f"minAvailable: {expect['pdb_min_available']}", where=where)
    pdb = pdbs[0]
    status = pdb.get("status", {})
    observed = {"name": pdb["metadata"]["name"], "minAvailable": pdb["spec"].get("minAvailable"),
                "disruptionsAllowed": status.get("disruptionsAllowed"), "currentHealthy": status.get("currentHealthy"),
                "desiredHealthy": status.get("desiredHealthy")}
    evidence.record("pdb", observed, source=where)
    if observed["minAvailable"] != expect["pdb_min_available"]:
        fail_check(f"PDB for {workload}", observed=f"minAvailable {observed['minAvailable']}",
                   expected=f"minAvailable {expect['pdb_min_available']}", where=where)
    if not observed["disruptionsAllowed"]:
        fail_check(f"PDB for {workload}", observed=f"{observed['currentHealthy']} healthy of {observed['desiredHealthy']} "
                   "needed, 0 disruptions allowed", expected="at least 1 disruption allowed (live status)", where=where)


# --------------------------------------------------------------------------- 3.2 Console

def _console(kubernetes) -> str:
    return kubernetes.settings.get("console", "console")


@check("3.2.1")
def test_console_image_tagged_with_release(kubernetes, evidence):
    _image_check(kubernetes, _console(kubernetes), evidence)


def _env(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in container.get("env", []) if e["name"] == name), None)


@check("3.2.2")
def test_console_production_build(kubernetes, evidence):
    name = _console(kubernetes)
    where = _where(kubernetes, f"GET deployment {name} (command, args, env NODE_ENV)")
    observed, problems = {}, []
    for c in _containers(_deployment(kubernetes, name)):
        node_env = (_env(c, "NODE_ENV") or {}).get("value")
        command = [str(x) for x in c.get("command", []) + c.get("args", [])]
        observed[c["name"]] = {"NODE_ENV": node_env, "command": command}
        if node_env != "production":
            problems.append(f"{c['name']}: NODE_ENV={node_env}")
        if "dev" in command:
            problems.append(f"{c['name']}: runs the development server ({' '.join(command)})")
    evidence.record("containers", observed, source=where)
    evidence.record("http_half", "that the served bundles are minified and content-hashed is read over HTTP; "
                    "here: the console runs the production build", source="apexready")
    if problems:
        fail_check("console build", observed=problems, expected="NODE_ENV=production and the built server "
                   "(not `next dev`)", where=where)


@check("3.2.3")
def test_console_api_url(kubernetes, expect, evidence):
    name = _console(kubernetes)
    where = _where(kubernetes, f"GET deployment {name} (env NEXT_PUBLIC_API_URL)")
    values = {c["name"]: (_env(c, "NEXT_PUBLIC_API_URL") or {}).get("value") for c in _containers(_deployment(kubernetes, name))}
    evidence.record("NEXT_PUBLIC_API_URL", values, source=where)
    wanted = expect["console_api_url"]
    bad = {c: v for c, v in values.items()
           if not v or (v != wanted if wanted else not re.match(r"^https://(?!localhost|127\.)[^/\s]+", v))}
    if bad:
        fail_check("NEXT_PUBLIC_API_URL", observed=bad,
                   expected=wanted or "the API's public https URL (not localhost), set on every container", where=where)


@check("3.2.4")
def test_console_nextauth_secret(kubernetes, evidence):
    name = _console(kubernetes)
    where = _where(kubernetes, f"GET deployment {name} (env NEXTAUTH_SECRET) and its secret")
    problems, seen = [], {}
    for container in _containers(_deployment(kubernetes, name)):
        env = _env(container, "NEXTAUTH_SECRET")
        if env is None:
            problems.append(f"{container['name']}: NEXTAUTH_SECRET not set")
            continue
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if not ref:
            problems.append(f"{container['name']}: NEXTAUTH_SECRET is a literal value, not from a Secret")
            continue
        data = _secret_data(kubernetes, ref["name"]) or {}
        length = len(data.get(ref["key"], ""))
        seen[container["name"]] = {"secret": ref["name"], "key": ref["key"], "length": length}
        if length < 32:
            problems.append(f"{container['name']}: {ref['name']}/{ref['key']} has {length} characters")
    evidence.record("nextauth_secret", seen, source=where)
    if problems:
        fail_check("NextAuth secret", observed=problems,
                   expected="NEXTAUTH_SECRET from a Secret, at least 32 characters", where=where)


@check("3.2.6")
def test_console_assets_from_cdn(kubernetes, expect, evidence):
    name = _console(kubernetes)
    where = _where(kubernetes, f"GET deployment {name} (env ASSET_PREFIX)")
    prefixes = {c["name"]: (_env(c, "ASSET_PREFIX") or _env(c, "NEXT_PUBLIC_ASSET_PREFIX") or {}).get("value")
                for c in _containers(_deployment(kubernetes, name))}
    evidence.record("ASSET_PREFIX", prefixes, source=where)
    evidence.record("cdn_half", "that the CDN serves them with long cache lifetimes is read over HTTP (6.2.2); "
                    "here: the console points its static assets at the CDN", source="apexready")
    wanted = expect["console_cdn_url"]
    bad = {c: v for c, v in prefixes.items()
           if not v or (v != wanted if wanted else not re.match(r"^https://(?!localhost|127\.)[^/\s]+", v))}
    if bad:
        fail_check("console static assets", observed=bad,
                   expected=wanted or "ASSET_PREFIX set to the CDN's https origin", where=where)


@check("3.2.5")
def test_console_replicas(kubernetes, expect, evidence):
    _replica_check(kubernetes, _console(kubernetes), expect["console_min_replicas"], evidence)


# --------------------------------------------------------------------------- 3.3 Background Jobs

def _cronjob(kubernetes, name: str) -> dict[str, Any]:
    obj = kubernetes.named("CronJob", name)
    if obj is None:
        fail_check(f"CronJob {name}", observed="absent", expected="present", where=_where(kubernetes, "GET cronjobs"))
    return obj


@check("3.3.1")
def test_cronjobs_scheduled(kubernetes, evidence):
    where = _where(kubernetes, "GET cronjobs")
    wanted = kubernetes.settings.get("cronjobs", ["sales-automation", "growth-engine", "self-evolving-system"])
    present = {c["metadata"]["name"]: c["spec"].get("suspend", False) for c in kubernetes.list("CronJob")}
    evidence.record("cronjobs", present, source=where)
    missing = [n for n in wanted if n not in present]
    suspended = [n for n in wanted if present.get(n)]
    if missing or suspended:
        fail_check("CronJobs", observed={"missing": missing, "suspended": suspended},
                   expected=f"{wanted} present and not suspended", where=where)


@check("3.3.2")
def test_cronjob_schedule(kubernetes, expect, cronjob, evidence):
    where = _where(kubernetes, f"GET cronjob {cronjob}")
    obj = _cronjob(kubernetes, cronjob)
    schedule = obj["spec"]["schedule"]
    status = obj.get("status", {})
    evidence.record("schedule", schedule, source=where)
    evidence.record("timeZone", obj["spec"].get("timeZone"), source=where)
    evidence.record("lastScheduleTime", status.get("lastScheduleTime"), source=where)
    evidence.record("lastSuccessfulTime", status.get("lastSuccessfulTime"), source=where)
    wanted = expect["cronjob_schedules"].get(cronjob)
    if wanted and schedule.split() != wanted.split():
        fail_check(f"schedule of {cronjob}", observed=schedule, expected=wanted, where=where)
    if not wanted and len(schedule.split()) != 5 and not schedule.startswith("@"):
        fail_check(f"schedule of {cronjob}", observed=schedule, expected="a valid cron schedule", where=where)


@check("3.3.3")
def test_cronjob_history_limits(kubernetes, cronjob, evidence):
    where = _where(kubernetes, f"GET cronjob {cronjob}")
    spec = _cronjob(kubernetes, cronjob)["spec"]
    observed = {"successfulJobsHistoryLimit": spec.get("successfulJobsHistoryLimit", 3),
                "failedJobsHistoryLimit": spec.get("failedJobsHistoryLimit", 1)}
    evidence.record("history_limits", observed, source=where)
    if observed != {"successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}:
        fail_check(f"job history of {cronjob}", observed=observed,
                   expected="successfulJobsHistoryLimit 3, failedJobsHistoryLimit 1", where=where)


@check("3.3.4")
def test_cronjob_deadline(kubernetes, cronjob, evidence):
    where = _where(kubernetes, f"GET cronjob {cronjob} (jobTemplate.spec.activeDeadlineSeconds)")
    deadline = _cronjob(kubernetes, cronjob)["spec"]["jobTemplate"]["spec"].get("activeDeadlineSeconds")
    evidence.record("activeDeadlineSeconds", deadline, source=where)
    if not deadline or deadline <= 0:
        fail_check(f"timeout of {cronjob}", observed=deadline, expected="activeDeadlineSeconds set (> 0)", where=where)


# --------------------------------------------------------------------------- sections 4, 5 and 10

@check("4.1.4")
def test_feature_flags_off(kubernetes, evidence):
    name = kubernetes.settings.get("backend_secret", "backend-secrets")
    where = _where(kubernetes, f"GET secret {name} (.data ENABLE_*)")
    data = _secret_data(kubernetes, name)
    if data is None:
        fail_check(f"Secret {name}", observed="absent", expected="present", where=where)
    flags = {k: v for k, v in sorted(data.items()) if k.startswith("ENABLE_")}
    evidence.record("flags", flags, source=where)  # booleans, not secrets
    on = {k: v for k, v in flags.items() if v.strip().lower() != "false"}
    if not flags or on:
        fail_check("feature flags", observed=on or "no ENABLE_* flag", expected="every ENABLE_* flag set to false",
                   where=where)


@check("5.1.1")
def test_no_secrets_in_configmaps(kubernetes, evidence):
    where = _where(kubernetes, "GET configmaps")
    findings = []
    maps = kubernetes.list("ConfigMap")
    for cm in maps:
        if cm["metadata"]["name"] == "kube-root-ca.crt":
            continue
        for key, value in (cm.get("data") or {}).items():
            if SECRETISH_KEY.search(key) or SECRETISH_VALUE.search(value or ""):
                findings.append(f"{cm['metadata']['name']}/{key}")  # never the value
    evidence.record("configmaps_scanned", len(maps), source=where)
    evidence.record("secret_like_entries", findings, source=where)
    if findings:
        fail_check("sensitive data in ConfigMaps", observed=findings, expected="none: sensitive data only in Secrets",
                   where=where)


@check("5.1.3")
def test_service_accounts_minimal(kubernetes, evidence):
    where = _where(kubernetes, "GET serviceaccounts, roles, rolebindings, clusterrolebindings, workloads")
    ns = kubernetes.namespace
    accounts = {sa["metadata"]["name"]: sa for sa in kubernetes.list("ServiceAccount")}
    roles = {r["metadata"]["name"]: r for r in kubernetes.list("Role")}
    bindings = [(b, "Role") for b in kubernetes.list("RoleBinding")] + \
               [(b, "Cluster") for b in kubernetes.list("ClusterRoleBinding")]
    problems, granted = [], {}
    for binding, scope in bindings:
        subjects = [s for s in binding.get("subjects") or [] if s.get("kind") == "ServiceAccount"
                    and s.get("namespace", ns) == ns]
        if not subjects:
            continue
        ref = binding["roleRef"]
        for s in subjects:
            granted.setdefault(s["name"], []).append(f"{ref['kind']}/{ref['name']}")
            if ref["name"] in BROAD_ROLES or (ref["kind"] == "ClusterRole" and scope == "Cluster"):
                problems.append(f"{s['name']} is bound to {ref['kind']} {ref['name']} ({binding['metadata']['name']})")
            rules = roles.get(ref["name"], {}).get("rules", []) if ref["kind"] == "Role" else []
            for rule in rules:
                if "*" in rule.get("verbs", []) or "*" in rule.get("resources", []):
                    problems.append(f"{s['name']}: Role {ref['name']} grants wildcards {rule}")
    workloads = kubernetes.list("Deployment") + kubernetes.list("CronJob")
    for w in workloads:
        spec = w["spec"]
        pod = spec["jobTemplate"]["spec"]["template"]["spec"] if "jobTemplate" in spec else spec["template"]["spec"]
        sa = pod.get("serviceAccountName", "default")
        automount = pod.get("automountServiceAccountToken", accounts.get(sa, {}).get("automountServiceAccountToken", True))
        if sa == "default":
            problems.append(f"{w['kind']} {w['metadata']['name']} runs as the default ServiceAccount")
        if automount:
            problems.append(f"{w['kind']} {w['metadata']['name']} mounts a ServiceAccount token")
    evidence.record("bindings", granted, source=where)
    if problems:
        fail_check("ServiceAccount permissions", observed=problems,
                   expected="a dedicated ServiceAccount per workload, no token mounted, only namespaced Roles "
                            "without wildcards, never cluster-admin/admin/edit", where=where)


@check("5.1.4")
def test_network_policies(kubernetes, evidence):
    where = _where(kubernetes, "GET networkpolicies, deployments, cronjobs")
    policies = kubernetes.list("NetworkPolicy")
    default_deny = [p["metadata"]["name"] for p in policies
                    if not (p["spec"].get("podSelector") or {}) and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                    and not p["spec"].get("ingress")]
    evidence.record("policies", [p["metadata"]["name"] for p in policies], source=where)
    evidence.record("default_deny_ingress", default_deny, source=where)
    uncovered = []
    for w in kubernetes.list("Deployment") + kubernetes.list("CronJob"):
        labels = _pod_labels(w)
        if not any(_selects(p["spec"].get("podSelector") or {}, labels) for p in policies):
            uncovered.append(f"{w['kind']} {w['metadata']['name']}")
    if not default_deny or uncovered:
        fail_check("network policies", observed={"default_deny_ingress": default_deny, "pods_not_selected": uncovered},
                   expected="a default-deny ingress policy, every workload's pods selected by a policy", where=where)


@check("10.4.3")
def test_automation_runs_succeed(kubernetes, expect, cronjob, evidence):
    where = _where(kubernetes, f"GET cronjob {cronjob} status, jobs it owns")
    obj = _cronjob(kubernetes, cronjob)
    jobs = [j for j in kubernetes.list("Job")
            if any(o.get("kind") == "CronJob" and o.get("name") == cronjob for o in j["metadata"].get("ownerReferences", []))
            or j["metadata"].get("labels", {}).get("app.kubernetes.io/name") == cronjob]
    succeeded = sorted((j["status"].get("completionTime") for j in jobs if j.get("status", {}).get("succeeded")),
                       reverse=True)
    last = _parse_time(obj.get("status", {}).get("lastSuccessfulTime")) or _parse_time(succeeded[0] if succeeded else None)
    evidence.record("jobs", {j["metadata"]["name"]: j.get("status", {}).get("succeeded", 0) for j in jobs}, source=where)
    evidence.record("last_success", last.isoformat() if last else None, source=where)
    limit = dt.timedelta(hours=expect["job_success_max_age_hours"])
    if last is None or dt.datetime.now(dt.timezone.utc) - last > limit:
        fail_check(f"successful runs of {cronjob}", observed=last.isoformat() if last else "no successful Job",
                   expected=f"a successful run in the last {expect['job_success_max_age_hours']} hours", where=where)
