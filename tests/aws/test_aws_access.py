"""The AWS checks under moto's IAM enforcement, and the AWS target's bad input.

A moto server of this module's own (the enforcement switch is global to a server) is seeded,
given two IAM users, then told to enforce IAM (``POST /moto-api/reset-auth`` with a bare number;
managed policies loaded with ``MOTO_IAM_LOAD_MANAGED_POLICIES``):

- ``apex-checker`` holds only the AWS managed policy ReadOnlyAccess: every AWS item passes;
- ``apex-no-ecr`` holds ReadOnlyAccess and a Deny on ecr:*: 5.1.5 errors naming the denied
  action, every other item passes;
- an unknown key: every item errors with one reason (credentials refused);
- a region that does not exist, and a real region holding nothing: item errors naming the region.

Against stubs: throttling (bounded retries, then an error naming the throttle), expired
credentials, and an endpoint that accepts connections and never answers (one timeout in all).
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from awsutil import AWS_ITEMS, SUITES, key_env, moto_api, moto_server, profile
from errorstub import ErrorStub
from test_aws_checks import aws_result

from checkrun import ROOT, run_checks
from netutil import SilentServer, free_port
from pytest_apexready.targets.aws import checker_policy

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
DENY_ECR = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}]})
#: moto 5.2.5 answers IAM-enforced requests to its REST APIs (EKS, CloudFront, Route53) with a signature
#: mismatch or an empty error, whatever the policy: those items (EKS for 1.1.1, CloudFront for 1.1.6) are
#: left out here; the recorder test shows that they send only reads
UNENFORCEABLE = {"1.1.1", "1.1.6"}
ENFORCED_ITEMS = [i for i in AWS_ITEMS if i not in UNENFORCEABLE]
#: global services: readable in any region (the wrong-region run may pass them)
GLOBAL_ITEMS = {"1.2.6", "1.1.6", "8.1.2", "1.3.5"}


@pytest.fixture(scope="module")
def enforced(tmp_path_factory):
    """(endpoint, keys of apex-checker, keys of apex-no-ecr) with IAM enforced from now on."""
    with moto_server(tmp_path_factory.mktemp("moto-iam"), free_port(),
                     env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}) as url:
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="admin",
                           aws_secret_access_key="admin")
        keys = {}
        for user in ("apex-checker", "apex-no-ecr", "apex-minimal"):
            iam.create_user(UserName=user)
            if user != "apex-minimal":
                iam.attach_user_policy(UserName=user, PolicyArn=READ_ONLY)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        iam.put_user_policy(UserName="apex-no-ecr", PolicyName="deny-ecr", PolicyDocument=DENY_ECR)
        iam.put_user_policy(UserName="apex-minimal", PolicyName="apexready",
                            PolicyDocument=json.dumps(checker_policy()))
        moto_api(url, "reset-auth", b"0")
        yield url, keys["apex-checker"], keys["apex-no-ecr"], keys["apex-minimal"]


def run(tmp_path, text, env):
    return run_checks(tmp_path, "aws", text, env=env, suites=SUITES)


def test_read_only_access_is_enough(enforced, tmp_path):
    url, checker, _, _ = enforced
    result = run(tmp_path, profile(url), key_env(checker))
    bad = {i: aws_result(result, i) for i in ENFORCED_ITEMS if aws_result(result, i)["outcome"] != "passed"}
    assert not bad, {i: (r["outcome"], r.get("reason")) for i, r in bad.items()}


def test_the_readme_policy_is_enough(enforced, tmp_path):
    """The minimal policy (README "AWS", CHECKER_ACTIONS) and nothing else: every enforced item passes."""
    url, _, _, minimal = enforced
    result = run(tmp_path, profile(url), key_env(minimal))
    bad = {i: aws_result(result, i) for i in ENFORCED_ITEMS if aws_result(result, i)["outcome"] != "passed"}
    assert not bad, {i: (r["outcome"], r.get("reason")) for i, r in bad.items()}


def test_readme_shows_the_policy():
    readme = (ROOT / "README.md").read_text()
    assert json.dumps(checker_policy(), indent=2) in readme


def test_access_denied_errors_only_that_services_items(enforced, tmp_path):
    url, _, no_ecr, _ = enforced
    result = run(tmp_path, profile(url), key_env(no_ecr))
    ecr = {"5.1.5": "ecr:DescribeRepositories", "3.1.1": "ecr:DescribeImages", "3.2.1": "ecr:DescribeImages"}
    for item_id, action in ecr.items():
        image = aws_result(result, item_id)
        assert image["outcome"] == "error", image
        assert "AccessDenied" in image["reason"] and action in image["reason"], image["reason"]
    others = {i: aws_result(result, i)["outcome"] for i in ENFORCED_ITEMS if i not in ecr}
    assert set(others.values()) == {"passed"}, others


def test_unknown_key_errors_every_item_with_one_reason(enforced, tmp_path):
    url, _, _, _ = enforced
    result = run(tmp_path, profile(url), key_env(("AKIAUNKNOWNKEY000000", "nope")))
    reasons = {aws_result(result, i)["reason"] for i in AWS_ITEMS}
    outcomes = {aws_result(result, i)["outcome"] for i in AWS_ITEMS}
    assert outcomes == {"error"}, outcomes
    assert len(reasons) == 1 and "credentials refused" in reasons.pop()


def test_region_that_does_not_exist(enforced, tmp_path):
    url, checker, _, _ = enforced
    result = run(tmp_path, profile(url, region="eu-nowhere-9"), key_env(checker))
    for i in AWS_ITEMS:
        r = aws_result(result, i)
        assert r["outcome"] == "error" and "'eu-nowhere-9' is not an AWS region" in r["reason"], (i, r)


def test_wrong_region_is_an_error_not_a_failure(enforced, tmp_path):
    url, checker, _, _ = enforced
    result = run(tmp_path, profile(url, region="us-west-2"), key_env(checker))
    for i in ENFORCED_ITEMS:
        r = aws_result(result, i)
        if i in GLOBAL_ITEMS and r["outcome"] == "passed":
            continue
        assert r["outcome"] == "error", (i, r["outcome"], r.get("reason"))
        assert "region (us-west-2)" in r["reason"], (i, r["reason"])


def test_throttling_retries_boundedly_then_names_the_throttle(tmp_path):
    stub = ErrorStub("Throttling", 400)
    try:
        result = run(tmp_path, profile(stub.url, max_attempts=2), key_env())
    finally:
        stub.close()
    for i in AWS_ITEMS:
        r = aws_result(result, i)
        assert r["outcome"] == "error", (i, r)
        assert "throttled" in r["reason"] and "on all 2 attempts" in r["reason"], (i, r["reason"])
    reads = {op: n for op, n in stub.requests.items() if op != "GetCallerIdentity"}
    assert reads and max(reads.values()) <= 2, reads  # each operation: at most max_attempts requests


def test_expired_credentials(tmp_path):
    stub = ErrorStub("ExpiredToken", 403, fail_identity=True)
    try:
        result = run(tmp_path, profile(stub.url), key_env())
    finally:
        stub.close()
    reasons = {aws_result(result, i)["reason"] for i in AWS_ITEMS}
    assert len(reasons) == 1, reasons
    reason = reasons.pop()
    assert "ExpiredToken" in reason and "renew the credentials" in reason, reason
    assert stub.requests["GetCallerIdentity"] == 1, stub.requests  # asked once, remembered for every item


def test_silent_endpoint_costs_one_timeout(tmp_path):
    with SilentServer() as silent:
        t0 = time.monotonic()
        result = run(tmp_path, profile(f"http://127.0.0.1:{silent.port}", connect_timeout=1, read_timeout=2),
                     key_env())
        elapsed = time.monotonic() - t0
        accepted = silent.accepted
    reasons = {aws_result(result, i)["reason"] for i in AWS_ITEMS}
    assert {aws_result(result, i)["outcome"] for i in AWS_ITEMS} == {"error"}
    assert len(reasons) == 1 and "read timeout 2 s" in reasons.pop(), reasons
    assert accepted == 1, accepted  # one connection, one timeout: no retries, no second attempt
    assert elapsed < 30, elapsed
