"""The AI flag rollout checks 4.2.1-4.2.3 (tests_app/test_ai_rollout.py), both directions, against the
sandbox's Kubernetes control plane (flags in ``backend-secrets``) and its Prometheus (AI spend):

- compliant: namespace ``apexmediation`` (every flag false) before go-live passes all three;
- week 1 with every flag on (a throw-away namespace): all three fail, each naming its flag;
- week 4 with every flag on and spend limits below the sandbox's spend: 4.2.2 and 4.2.3 fail on the
  spend, 4.2.1 passes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest

from checkrun import run_checks
from sandbox import monitoring
from sandbox.kube import controlplane, objects

DATA = Path(controlplane.DEFAULT_DATA_DIR).resolve()
ITEMS = ["4.2.1", "4.2.2", "4.2.3"]
SUITES = ("tests_app/test_ai_rollout.py",)
FLAGS = ("ENABLE_SALES_AI_OPTIMIZATION", "ENABLE_GROWTH_AI_ANALYTICS", "ENABLE_SELF_EVOLVING_AI")


def profile(namespace: str, go_live: dt.datetime | None = None, expectations: str = "") -> str:
    live = f'go_live = "{go_live.isoformat()}"\n' if go_live else ""
    return (f'description = "AI rollout self-test"\n{live}'
            f'[targets.kubernetes]\nkubeconfig = "{DATA / "checker.kubeconfig"}"\nnamespace = "{namespace}"\n'
            f'request_timeout = 5\n'
            f'[targets.prometheus]\nurl = "{monitoring.COMPLIANT.url("prometheus")}"\nconnect_timeout = 2\n'
            f'[expectations]\n{expectations}')


def describe(run) -> str:
    return "\n".join(f"{i}: {run.outcome(i)}: {run.reason(i)}" for i in ITEMS) + "\n" + run.output[-2000:]


@pytest.fixture(scope="module")
def control_plane():
    status = controlplane.status(DATA)
    if not status["healthy"]:
        pytest.fail("the sandbox control plane is not healthy: start it with `python -m sandbox up`")
    monitoring.start(monitoring.COMPLIANT, log=lambda _: None)
    return status


@pytest.fixture(scope="module")
def flags_on_namespace(control_plane):
    """A namespace whose backend-secrets turns every AI flag on; deleted afterwards."""
    admin = controlplane.Api(DATA / "admin.kubeconfig")
    ns = f"apex-obs-{secrets.token_hex(4)}"
    try:
        for obj in objects.rbac_objects(ns):
            if obj["kind"] in ("Namespace", "Role", "RoleBinding"):
                admin.apply(obj)
        admin.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "backend-secrets", "namespace": ns},
                     "stringData": dict.fromkeys(FLAGS, "true")})
        yield ns
    finally:
        admin.request("DELETE", f"/api/v1/namespaces/{ns}")


def _ago(days: int) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).replace(microsecond=0)


def test_before_go_live_with_flags_off_passes(control_plane, tmp_path):
    run = run_checks(tmp_path, "ai_cost", profile("apexmediation"), suites=SUITES)
    assert {i: run.outcome(i) for i in ITEMS} == dict.fromkeys(ITEMS, "passed"), describe(run)


def test_week1_with_every_flag_on_fails_each_item(flags_on_namespace, tmp_path):
    run = run_checks(tmp_path, "ai_cost", profile(flags_on_namespace, _ago(3)), suites=SUITES)
    assert {i: run.outcome(i) for i in ITEMS} == dict.fromkeys(ITEMS, "failed"), describe(run)
    assert "ENABLE_SALES_AI_OPTIMIZATION only in week 1" in run.reason("4.2.1")
    assert "ENABLE_GROWTH_AI_ANALYTICS (week 1" in run.reason("4.2.2")
    assert "observed true; expected false until week 2" in run.reason("4.2.2")
    assert "observed true; expected false until week 3" in run.reason("4.2.3")


def test_week4_over_the_spend_limits_fails_on_spend(flags_on_namespace, tmp_path):
    limits = 'ai_rollout_spend_limits = { ENABLE_GROWTH_AI_ANALYTICS = 0.000001, ENABLE_SELF_EVOLVING_AI = 0.000001 }\n'
    run = run_checks(tmp_path, "ai_cost", profile(flags_on_namespace, _ago(22), limits), suites=SUITES)
    assert {i: run.outcome(i) for i in ITEMS} == {"4.2.1": "passed", "4.2.2": "failed", "4.2.3": "failed"}, \
        describe(run)
    for item in ("4.2.2", "4.2.3"):
        assert "spent; expected on only while the spend so far is below $1e-06" in run.reason(item), run.reason(item)
