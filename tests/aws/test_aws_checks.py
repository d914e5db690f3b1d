"""The AWS checks (tests_infra/test_aws_*.py, tests_security/test_aws_security.py), both directions,
against a moto server this module starts and seeds itself (``python -m sandbox.aws serve``):

- compliant: moto's default account passes every AWS item (or AWS part of an item);
- drifted: the account reached through ``role_arn`` fails each one, with the observed value,
  the expected one and the API call + ARN it read;
- read-only: moto's recorder, started before the compliant run and downloaded after it, holds
  only Describe, List and Get operations (and GETs of the REST APIs);
- calls: one call per operation per run, whatever the number of items reading it;
- registry (3.1.1, 3.2.1 part "registry"): with the images the sandbox cluster runs (its manifests'
  release tag), pushed in the compliant account, never pushed in the drifted one.

The sandbox's own moto (port 24566) is neither used nor touched.
"""

from __future__ import annotations

import re

import pytest
from awsutil import (
    AWS_ITEMS,
    AWS_PARTS,
    PARTS,
    REGISTRY_ITEMS,
    SUITES,
    key_env,
    moto_api,
    moto_server,
    operation,
    profile,
    recorded,
)

from checkrun import run_checks
from netutil import free_port
from sandbox import aws_seed as seed

#: what the drifted account shows, per item: a piece of a finding's "observed"
DRIFTED = {
    "1.1.1": "1.26",
    "1.1.2": "13.13",
    "1.1.4": "6.2",
    "1.1.5": "unused",
    "1.1.6": "allow-all",
    "1.1.8": "5.0",
    "1.2.1": "igw-",
    "1.2.2": "open to 0.0.0.0/0",
    "1.2.3": "igw-",
    "1.2.4": "0.0.0.0/0",
    "1.2.5": "none",
    "1.2.6": "ResourceNotFoundException",
    "1.3.5": "h (clickhouse/exports/",
    "2.1.6": "1",
    "4.1.1": "no secret named",
    "5.1.5": "2",
    "8.1.1": "1",
    "8.1.2": "72.",
    "8.1.5": "disabled",
}
#: the images the sandbox cluster runs (sandbox/manifests): the drifted account has only 1.4.2 of each
RUNNING = [f"{repo}:{tag}" for repo, tags in sorted(seed.running_tags().items()) for tag in sorted(tags)]
RELEASE = RUNNING[0].rpartition(":")[2]


def aws_result(run, item_id: str) -> dict:
    """The AWS part of an item proven in parts ("aws", or "registry"), else the item."""
    item = run.items[item_id]
    for part in item.get("parts") or []:
        if part["name"] in AWS_PARTS:
            return part
    return item


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto"), free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def compliant(endpoint, tmp_path_factory):
    moto_api(endpoint, "recorder/reset-recording", b"")
    moto_api(endpoint, "recorder/start-recording", b"")
    try:
        run = run_checks(tmp_path_factory.mktemp("aws-ok"), "aws", profile(endpoint), env=key_env(), suites=SUITES)
    finally:
        moto_api(endpoint, "recorder/stop-recording", b"")
    return run, recorded(endpoint)


@pytest.fixture(scope="module")
def drifted(endpoint, tmp_path_factory):
    return run_checks(tmp_path_factory.mktemp("aws-drift"), "aws", profile(endpoint, drifted=True), env=key_env(),
                      suites=SUITES)


@pytest.mark.parametrize("item_id", AWS_ITEMS)
def test_compliant_account_passes(compliant, item_id):
    run, _ = compliant
    result = aws_result(run, item_id)
    assert result["outcome"] == "passed", f"{item_id}: {result.get('reason')}\n{run.output[-2000:]}"
    if item_id in PARTS:
        assert any(p["name"] in AWS_PARTS for p in run.items[item_id].get("parts") or []), item_id


@pytest.fixture(scope="module")
def registry(endpoint, tmp_path_factory):
    """The registry parts with the images the sandbox cluster runs: compliant and drifted runs."""
    return {kind: run_checks(tmp_path_factory.mktemp(f"registry-{kind}"), "aws",
                             profile(endpoint, drifted=kind == "drifted", images=RUNNING), env=key_env(),
                             suites=("tests_app/test_registry.py",))
            for kind in ("compliant", "drifted")}


@pytest.mark.parametrize("item_id", REGISTRY_ITEMS)
def test_registry_running_release_pushed(registry, item_id):
    result = aws_result(registry["compliant"], item_id)
    assert result["name"] == "registry" and result["outcome"] == "passed", result
    pushed = next(e for e in result["evidence"] if e["name"] == "images_in_registry")["value"]
    assert set(pushed) == set(RUNNING) and all(v["pushed_at"] for v in pushed.values()), pushed


@pytest.mark.parametrize("item_id", REGISTRY_ITEMS)
def test_registry_release_never_pushed_fails(registry, item_id):
    result = aws_result(registry["drifted"], item_id)
    assert result["outcome"] == "failed", result
    by_image = {f["what"]: f for f in result["findings"]}
    for image in RUNNING:  # without [targets.kubernetes] every image the profile names is looked up
        f = by_image[f"{image} in ECR"]
        assert f["observed"] == f"tag {RELEASE} not listed (tags listed: ['{seed.IMAGE_TAG}'])", f
        assert f["expected"] == f"tag {RELEASE} pushed to {image.rpartition(':')[0]}", f
        repo_arn = f"arn:aws:ecr:{seed.REGION}:222222222222:repository/{image.rpartition(':')[0]}"
        assert f["where"].startswith(f"ecr:DescribeImages {repo_arn} "), f


@pytest.mark.parametrize("item_id", [i for i in AWS_ITEMS if i not in REGISTRY_ITEMS])
def test_drifted_account_fails_with_observed_and_expected(drifted, item_id):
    result = aws_result(drifted, item_id)
    assert result["outcome"] == "failed", f"{item_id}: {result['outcome']}: {result.get('reason')}"
    findings = result["findings"]
    assert findings, result
    assert any(DRIFTED[item_id] in str(f["observed"]) for f in findings), findings
    for f in findings:
        assert f["expected"] not in (None, ""), f
        assert re.match(r"[a-z0-9-]+:[A-Za-z]+", f["where"]), f  # the API call (IAM action) it read
        assert "222222222222" in f["where"], f  # the drifted account: the ARN or the account read


def test_evidence_lists_arns(compliant):
    run, _ = compliant
    for item_id in AWS_ITEMS:
        result = aws_result(run, item_id)
        text = str(run.items[item_id].get("evidence")) + str(result.get("evidence"))
        if item_id != "1.2.6":  # 1.2.6 may pass on a note (Shield Standard); here it reads the subscription
            assert "arn:aws:" in text, (item_id, text[:500])


def test_recorder_shows_only_reads(compliant):
    """Every request the checks sent during the compliant run is a Describe, List or Get."""
    _, entries = compliant
    assert entries, "the recorder holds no request"
    ops = [operation(e) for e in entries]
    writes = [o for o in ops if not re.match(r"(Describe|List|Get)[A-Z]|GET /", o)]
    assert not writes, writes
    # the REST APIs (CloudFront, Route53, EKS, S3) were reached, by GET only
    assert any(o.startswith("GET /2020-05-31/distribution") for o in ops), ops
    assert any(o.startswith("GET /clusters/") for o in ops), ops


def test_one_call_per_operation(compliant):
    """The IAM actions the checks sent: no operation called twice with the same parameters."""
    _, entries = compliant
    ops = [operation(e) for e in entries]
    # per-resource reads (target health, scan findings, certificate details) repeat with other parameters
    per_resource = {"DescribeTargetHealth", "DescribeImageScanFindings", "DescribeCertificate", "GET /",
                    "DescribeImages"}
    counted = {o: ops.count(o) for o in set(ops) if not any(o.startswith(p) for p in per_resource)}
    # DescribeImages: once per repository, shared by 3.1.1 and 3.2.1
    assert ops.count("DescribeImages") == len(seed.REPOSITORIES), ops
    # pytest-xdist is not used by run_checks: one process, one session, one call per operation
    # (GetCallerIdentity once per process; the suites run in one process)
    assert all(n == 1 for n in counted.values()), counted
