"""Section 3 "Application Deployment", and the feature flags of section 4, read live from Kubernetes.

Every check reads objects through the ``kubernetes`` client, which lists each kind once
per namespace (paginated) and shares the lists across items and workloads. Spec and live
state are both read: ready replicas, PDB allowed disruptions, last successful Job.
Secret *values* are never recorded: only key names, lengths, and the feature flags.
"""

from __future__ import annotations

from typing import Any

from pytest_apexready import Finding, check, fail_check
from pytest_apexready import k8s_objects as k8s
from pytest_apexready.rules.k8s import RELEASE_TAG, not_public_https

# --------------------------------------------------------------------------- 3.1 Backend API

@check("3.1.1", part="k8s")  # the tag being in the registry is the catalog's part "registry"
def test_backend_image_tagged_with_release(kubernetes, workload, evidence):
    _image_check(kubernetes, workload, evidence)


def _image_check(kubernetes, name: str, evidence) -> None:
    where = k8s.where(kubernetes, f"GET deployment {name}")
    dep = k8s.deployment(kubernetes, name)
    images = {c["name"]: c["image"] for c in k8s.containers(dep)}
    replicas = k8s.replicas(dep)
    evidence.record("images", images, source=where)
    evidence.record("replicas", replicas, source=where)
    findings = []
    bad = {c: img for c, img in images.items() if not RELEASE_TAG.match(k8s.image_tag(img) or "")}
    if bad:
        findings.append(Finding(f"image tags of {name}", bad, "a tag matching a git SHA (7-40 hex) or a release "
                                "version (v1.2.3); never latest or untagged", where))
    if replicas["updated"] < replicas["spec"] or replicas["ready"] < replicas["spec"]:
        findings.append(Finding(f"rollout of {name}", replicas, "every replica updated to this image and ready",
                                where))
    fail_check(findings=findings)


@check("3.1.2")
def test_backend_environment(kubernetes, expect, workload, evidence):
    name = kubernetes.settings.get("backend_secret", "backend-secrets")
    where = k8s.where(kubernetes, f"GET secret {name}, deployment {workload}")
    data = k8s.secret_data(kubernetes, name)
    if data is None:
        fail_check(f"Secret {name}", observed="absent", expected="present", where=where)
    evidence.record("keys", sorted(data), source=where)  # names only: values are secrets
    required = ("DATABASE_URL", "OPENAI_API_KEY", "STRIPE_SECRET_KEY")
    minimum = expect["backend_min_env_vars"]
    missing = [k for k in required if k not in data]
    empty = [k for k, v in data.items() if not v.strip()]
    dep = k8s.deployment(kubernetes, workload)
    uses = [c["name"] for c in k8s.containers(dep)
            if any((ref.get("secretRef") or {}).get("name") == name for ref in c.get("envFrom", []))]
    evidence.record("containers_using_secret", uses, source=where)
    fail_check(findings=[Finding(what, observed, expected, where) for what, observed, expected, bad in (
        (f"variables in Secret {name}", len(data), f"at least {minimum}", len(data) < minimum),
        (f"required variables in Secret {name}", f"missing {missing}", f"{', '.join(required)} present", missing),
        (f"empty variables in Secret {name}", empty, "none empty", empty),
        (f"containers of {workload} loading {name} (envFrom)", uses, "at least one", not uses),
    ) if bad])


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


@check("3.1.4", part="k8s")  # GET /health on the public API is the catalog's part "http"
def test_health_endpoint_probed(kubernetes, expect, workload, evidence):
    where = k8s.where(kubernetes, f"GET deployment {workload}")
    dep = _probe_check(kubernetes, workload, evidence, "readinessProbe")
    paths = {c["name"]: [(c.get(p) or {}).get("httpGet", {}).get("path") for p in ("readinessProbe", "livenessProbe")]
             for c in k8s.containers(dep)}
    replicas = k8s.replicas(dep)
    evidence.record("probe_paths", paths, source=where)
    evidence.record("replicas", replicas, source=where)
    findings = []
    health = expect["health_path"]
    not_health = {c: p for c, p in paths.items() if health not in p}
    if not_health:
        findings.append(Finding(f"health checks of {workload}", not_health,
                                f"probes on {health} (expectations.health_path)", where))
    if replicas["ready"] < replicas["spec"]:
        findings.append(Finding(f"healthy pods of {workload}", f"{replicas['ready']} of {replicas['spec']} ready",
                                f"all replicas passing {health}", where))
    fail_check(findings=findings)


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
            if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
            and h["spec"]["scaleTargetRef"]["name"] == workload]
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
    findings = []
    if observed["minAvailable"] != expect["pdb_min_available"]:
        findings.append(Finding(f"PDB for {workload}", f"minAvailable {observed['minAvailable']}",
                                f"minAvailable {expect['pdb_min_available']}", where))
    if not observed["disruptionsAllowed"]:
        findings.append(Finding(f"PDB for {workload}", f"{observed['currentHealthy']} healthy of "
                                f"{observed['desiredHealthy']} needed, 0 disruptions allowed",
                                "at least 1 disruption allowed (live status)", where))
    fail_check(findings=findings)


# --------------------------------------------------------------------------- 3.2 Console

def _console(kubernetes) -> str:
    return kubernetes.settings.get("console", "console")


@check("3.2.1", part="k8s")  # the tag being in the registry is the catalog's part "registry"
def test_console_image_tagged_with_release(kubernetes, evidence):
    _image_check(kubernetes, _console(kubernetes), evidence)


@check("3.2.2", part="k8s")  # the bundles served over HTTP are part "http"
def test_console_production_build(kubernetes, evidence):
    name = _console(kubernetes)
    where = k8s.where(kubernetes, f"GET deployment {name} (command, args, env NODE_ENV)")
    observed: dict[str, Any] = {}
    findings = []
    for c in k8s.containers(k8s.deployment(kubernetes, name)):
        node_env = (k8s.env(c, "NODE_ENV") or {}).get("value")
        command = [str(x) for x in c.get("command", []) + c.get("args", [])]
        observed[c["name"]] = {"NODE_ENV": node_env, "command": command}
        if node_env != "production":
            findings.append(Finding(f"NODE_ENV of {c['name']}", node_env, "production", where))
        if "dev" in command:
            findings.append(Finding(f"server of {c['name']}", f"the development server ({' '.join(command)})",
                                    "the built server (not `next dev`)", where))
    evidence.record("containers", observed, source=where)
    fail_check(findings=findings)


@check("3.2.3")
def test_console_api_url(kubernetes, expect, evidence):
    name = _console(kubernetes)
    where = k8s.where(kubernetes, f"GET deployment {name} (env NEXT_PUBLIC_API_URL)")
    values = {c["name"]: (k8s.env(c, "NEXT_PUBLIC_API_URL") or {}).get("value")
              for c in k8s.containers(k8s.deployment(kubernetes, name))}
    evidence.record("NEXT_PUBLIC_API_URL", values, source=where)
    wanted = expect["console_api_url"]
    bad = not_public_https(values, wanted)
    if bad:
        fail_check("NEXT_PUBLIC_API_URL", observed=bad,
                   expected=wanted or "the API's public https URL (not localhost), set on every container", where=where)


@check("3.2.4")
def test_console_nextauth_secret(kubernetes, expect, evidence):
    name = _console(kubernetes)
    where = k8s.where(kubernetes, f"GET deployment {name} (env NEXTAUTH_SECRET) and its secret")
    findings, seen = [], {}
    minimum = expect["secret_min_length"]
    wanted = f"NEXTAUTH_SECRET from a Secret, at least {minimum} characters (expectations.secret_min_length)"
    for container in k8s.containers(k8s.deployment(kubernetes, name)):
        what = f"NEXTAUTH_SECRET of {container['name']}"
        env = k8s.env(container, "NEXTAUTH_SECRET")
        if env is None:
            findings.append(Finding(what, "not set", wanted, where))
            continue
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if not ref:
            findings.append(Finding(what, "a literal value, not from a Secret", wanted, where))
            continue
        data = k8s.secret_data(kubernetes, ref["name"]) or {}
        length = len(data.get(ref["key"], ""))
        seen[container["name"]] = {"secret": ref["name"], "key": ref["key"], "length": length}
        if length < minimum:
            findings.append(Finding(what, f"{ref['name']}/{ref['key']} has {length} characters", wanted, where))
    evidence.record("nextauth_secret", seen, source=where)
    fail_check(findings=findings)


@check("3.2.6", part="k8s")  # the CDN's caching over HTTP is part "http"
def test_console_assets_from_cdn(kubernetes, expect, evidence):
    name = _console(kubernetes)
    where = k8s.where(kubernetes, f"GET deployment {name} (env ASSET_PREFIX)")
    prefixes = {c["name"]: (k8s.env(c, "ASSET_PREFIX") or k8s.env(c, "NEXT_PUBLIC_ASSET_PREFIX") or {}).get("value")
                for c in k8s.containers(k8s.deployment(kubernetes, name))}
    evidence.record("ASSET_PREFIX", prefixes, source=where)
    wanted = expect["console_cdn_url"]
    bad = not_public_https(prefixes, wanted)
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
    fail_check(findings=[Finding(what, observed, expected, where) for what, observed, expected in (
        ("CronJobs missing", missing, f"all of {wanted} present"),
        ("CronJobs suspended", suspended, "none suspended"),
    ) if observed])


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
