"""Section 3 "Application Deployment", and the feature flags of section 4, read live from Kubernetes.

Every check reads objects through the ``kubernetes`` client, which lists each kind once
per namespace (paginated) and shares the lists across items and workloads. Spec and live
state are both read: ready replicas, PDB allowed disruptions, last successful Job.
Secret *values* are never recorded: only key names, lengths, and the feature flags.
"""

from __future__ import annotations

import re
from typing import Any

from pytest_apexready import check, fail_check
from pytest_apexready import k8s_objects as k8s

RELEASE_TAG = re.compile(r"^(?:[0-9a-f]{7,40}|v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)$")


# --------------------------------------------------------------------------- 3.1 Backend API

@check("3.1.1")
def test_backend_image_tagged_with_release(kubernetes, workload, evidence):
    _image_check(kubernetes, workload, evidence)


def _image_check(kubernetes, name: str, evidence) -> None:
    where = k8s.where(kubernetes, f"GET deployment {name}")
    dep = k8s.deployment(kubernetes, name)
    images = {c["name"]: c["image"] for c in k8s.containers(dep)}
    replicas = k8s.replicas(dep)
    evidence.record("images", images, source=where)
    evidence.record("replicas", replicas, source=where)
    evidence.record("registry_half", "the registry listing is read outside Kubernetes; here: the tag, and that "
                    "pods with it run (the image was pulled)", source="apexready")
    bad = {c: img for c, img in images.items() if not RELEASE_TAG.match(k8s.image_tag(img) or "")}
    if bad:
        fail_check(f"image tags of {name}", observed=bad, expected="a tag matching a git SHA (7-40 hex) or a release "
                   "version (v1.2.3); never latest or untagged", where=where)
    if replicas["updated"] < replicas["spec"] or replicas["ready"] < replicas["spec"]:
        fail_check(f"rollout of {name}", observed=replicas, expected="every replica updated to this image and ready",
                   where=where)


@check("3.1.2")
def test_backend_environment(kubernetes, expect, workload, evidence):
    name = kubernetes.settings.get("backend_secret", "backend-secrets")
    where = k8s.where(kubernetes, f"GET secret {name}, deployment {workload}")
    data = k8s.secret_data(kubernetes, name)
    if data is None:
        fail_check(f"Secret {name}", observed="absent", expected="present", where=where)
    evidence.record("keys", sorted(data), source=where)  # names only: values are secrets
    required = ("DATABASE_URL", "OPENAI_API_KEY", "STRIPE_SECRET_KEY")
    problems = []
    if len(data) < expect["backend_min_env_vars"]:
        problems.append(f"{len(data)} variables")
    problems += [f"{k} missing" for k in required if k not in data]
    problems += [f"{k} empty" for k, v in data.items() if not v.strip()]
    dep = k8s.deployment(kubernetes, workload)
    uses = [c["name"] for c in k8s.containers(dep)
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
    where = k8s.where(kubernetes, f"GET deployment {workload}")
    dep = k8s.deployment(kubernetes, workload)
    resources = {c["name"]: c.get("resources", {}) for c in k8s.containers(dep)}
    evidence.record("resources", resources, source=where)
    missing = [f"{c}: {part}.{res}" for c, r in resources.items() for part in ("requests", "limits")
               for res in ("cpu", "memory") if res not in (r.get(part) or {})]
    if missing:
        fail_check(f"resources of {workload}", observed=f"missing {missing}",
                   expected="cpu and memory requests and limits on every container", where=where)


def _probe_check(kubernetes, workload: str, evidence, kind: str) -> dict[str, Any]:
    where = k8s.where(kubernetes, f"GET deployment {workload}")
    dep = k8s.deployment(kubernetes, workload)
    probes = {c["name"]: c.get(kind) for c in k8s.containers(dep)}
    evidence.record(kind, probes, source=where)
    missing = [c for c, p in probes.items() if not p]
    if missing:
        fail_check(f"{kind} of {workload}", observed=f"none on {missing}", expected=f"a {kind} on every container",
                   where=where)
    return dep


@check("3.1.4")
def test_health_endpoint_probed(kubernetes, workload, evidence):
    where = k8s.where(kubernetes, f"GET deployment {workload}")
    dep = _probe_check(kubernetes, workload, evidence, "readinessProbe")
    paths = {c["name"]: [(c.get(p) or {}).get("httpGet", {}).get("path") for p in ("readinessProbe", "livenessProbe")]
             for c in k8s.containers(dep)}
    replicas = k8s.replicas(dep)
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
    evidence.record("strategy", strategy, source=k8s.where(kubernetes, f"GET deployment {workload}"))


@check("3.1.6")
def test_liveness_probe(kubernetes, workload, evidence):
    _probe_check(kubernetes, workload, evidence, "livenessProbe")


@check("3.1.7")
def test_backend_replicas(kubernetes, expect, workload, evidence):
    _replica_check(kubernetes, workload, expect["backend_min_replicas"], evidence)


def _replica_check(kubernetes, name: str, minimum: int, evidence) -> None:
    where = k8s.where(kubernetes, f"GET deployment {name} (spec.replicas, status.readyReplicas)")
    replicas = k8s.replicas(k8s.deployment(kubernetes, name))
    evidence.record("replicas", replicas, source=where)
    if replicas["spec"] < minimum or replicas["ready"] < minimum:
        fail_check(f"replicas of {name}", observed=f"{replicas['spec']} desired, {replicas['ready']} ready",
                   expected=f"at least {minimum} desired and ready", where=where)


@check("3.1.8")
def test_hpa(kubernetes, expect, workload, evidence):
    where = k8s.where(kubernetes, "GET horizontalpodautoscalers")
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
    where = k8s.where(kubernetes, "GET poddisruptionbudgets")
    labels = k8s.pod_labels(k8s.deployment(kubernetes, workload))
    pdbs = [p for p in kubernetes.list("PodDisruptionBudget") if k8s.selects(p["spec"].get("selector") or {}, labels)]
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


@check("3.2.2")
def test_console_production_build(kubernetes, evidence):
    name = _console(kubernetes)
    where = k8s.where(kubernetes, f"GET deployment {name} (command, args, env NODE_ENV)")
    observed, problems = {}, []
    for c in k8s.containers(k8s.deployment(kubernetes, name)):
        node_env = (k8s.env(c, "NODE_ENV") or {}).get("value")
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


PUBLIC_HTTPS = re.compile(r"^https://(?!localhost|127\.)[^/\s]+")


def _not_public_https(values: dict[str, str | None], wanted: str | None) -> dict[str, str | None]:
    """The containers whose URL is missing, or not *wanted* (when the profile names one),
    or else not a public https URL."""
    return {c: v for c, v in values.items()
            if not v or (v != wanted if wanted else not PUBLIC_HTTPS.match(v))}


@check("3.2.3")
def test_console_api_url(kubernetes, expect, evidence):
    name = _console(kubernetes)
    where = k8s.where(kubernetes, f"GET deployment {name} (env NEXT_PUBLIC_API_URL)")
    values = {c["name"]: (k8s.env(c, "NEXT_PUBLIC_API_URL") or {}).get("value") for c in k8s.containers(k8s.deployment(kubernetes, name))}
    evidence.record("NEXT_PUBLIC_API_URL", values, source=where)
    wanted = expect["console_api_url"]
    bad = _not_public_https(values, wanted)
    if bad:
        fail_check("NEXT_PUBLIC_API_URL", observed=bad,
                   expected=wanted or "the API's public https URL (not localhost), set on every container", where=where)


@check("3.2.4")
def test_console_nextauth_secret(kubernetes, evidence):
    name = _console(kubernetes)
    where = k8s.where(kubernetes, f"GET deployment {name} (env NEXTAUTH_SECRET) and its secret")
    problems, seen = [], {}
    for container in k8s.containers(k8s.deployment(kubernetes, name)):
        env = k8s.env(container, "NEXTAUTH_SECRET")
        if env is None:
            problems.append(f"{container['name']}: NEXTAUTH_SECRET not set")
            continue
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if not ref:
            problems.append(f"{container['name']}: NEXTAUTH_SECRET is a literal value, not from a Secret")
            continue
        data = k8s.secret_data(kubernetes, ref["name"]) or {}
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
    where = k8s.where(kubernetes, f"GET deployment {name} (env ASSET_PREFIX)")
    prefixes = {c["name"]: (k8s.env(c, "ASSET_PREFIX") or k8s.env(c, "NEXT_PUBLIC_ASSET_PREFIX") or {}).get("value")
                for c in k8s.containers(k8s.deployment(kubernetes, name))}
    evidence.record("ASSET_PREFIX", prefixes, source=where)
    evidence.record("cdn_half", "that the CDN serves them with long cache lifetimes is read over HTTP (6.2.2); "
                    "here: the console points its static assets at the CDN", source="apexready")
    wanted = expect["console_cdn_url"]
    bad = _not_public_https(prefixes, wanted)
    if bad:
        fail_check("console static assets", observed=bad,
                   expected=wanted or "ASSET_PREFIX set to the CDN's https origin", where=where)


@check("3.2.5")
def test_console_replicas(kubernetes, expect, evidence):
    _replica_check(kubernetes, _console(kubernetes), expect["console_min_replicas"], evidence)


# --------------------------------------------------------------------------- 3.3 Background Jobs

@check("3.3.1")
def test_cronjobs_scheduled(kubernetes, evidence):
    where = k8s.where(kubernetes, "GET cronjobs")
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
    where = k8s.where(kubernetes, f"GET cronjob {cronjob}")
    obj = k8s.cronjob(kubernetes, cronjob)
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
    where = k8s.where(kubernetes, f"GET cronjob {cronjob}")
    spec = k8s.cronjob(kubernetes, cronjob)["spec"]
    observed = {"successfulJobsHistoryLimit": spec.get("successfulJobsHistoryLimit", 3),
                "failedJobsHistoryLimit": spec.get("failedJobsHistoryLimit", 1)}
    evidence.record("history_limits", observed, source=where)
    if observed != {"successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}:
        fail_check(f"job history of {cronjob}", observed=observed,
                   expected="successfulJobsHistoryLimit 3, failedJobsHistoryLimit 1", where=where)


@check("3.3.4")
def test_cronjob_deadline(kubernetes, cronjob, evidence):
    where = k8s.where(kubernetes, f"GET cronjob {cronjob} (jobTemplate.spec.activeDeadlineSeconds)")
    deadline = k8s.cronjob(kubernetes, cronjob)["spec"]["jobTemplate"]["spec"].get("activeDeadlineSeconds")
    evidence.record("activeDeadlineSeconds", deadline, source=where)
    if not deadline or deadline <= 0:
        fail_check(f"timeout of {cronjob}", observed=deadline, expected="activeDeadlineSeconds set (> 0)", where=where)


# --------------------------------------------------------------------------- 4 AI cost controls

@check("4.1.4")
def test_feature_flags_off(kubernetes, evidence):
    name = kubernetes.settings.get("backend_secret", "backend-secrets")
    where = k8s.where(kubernetes, f"GET secret {name} (.data ENABLE_*)")
    data = k8s.secret_data(kubernetes, name)
    if data is None:
        fail_check(f"Secret {name}", observed="absent", expected="present", where=where)
    flags = {k: v for k, v in sorted(data.items()) if k.startswith("ENABLE_")}
    evidence.record("flags", flags, source=where)  # booleans, not secrets
    on = {k: v for k, v in flags.items() if v.strip().lower() != "false"}
    if not flags or on:
        fail_check("feature flags", observed=on or "no ENABLE_* flag", expected="every ENABLE_* flag set to false",
                   where=where)
