"""Sections 4, 5 and 8, the AWS items: where the OpenAI key lives, image scanning, secret rotation.

Secrets are read through ListSecrets only (names, rotation, version ids): no secret value is ever
requested, so none can reach a report.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pytest_apexready import Finding, check, fail_check

NOW = dt.datetime.now(dt.UTC)
#: a rotation may run this long after its period before it counts as missed
ROTATION_SLACK = dt.timedelta(days=1)


def secrets_by_name(aws: Any) -> dict[str, dict[str, Any]]:
    listed = aws.read("secretsmanager", "list_secrets")["SecretList"]
    if not listed:  # not one secret: the wrong region or account, rather than a finding
        raise aws.not_found("any Secrets Manager secret", "*", "secretsmanager:ListSecrets")
    return {s["Name"]: s for s in listed}


@check("4.1.1")
def test_openai_key_in_secrets_manager(aws, apex_profile, request, evidence):
    name = aws.setting("secrets", "a table naming the secrets, with openai = \"<secret name>\"").get("openai")
    if not name:
        fail_check("OpenAI key secret", observed="[targets.aws] secrets has no 'openai' entry",
                   expected="the Secrets Manager secret holding the OpenAI key", where="profile [targets.aws] secrets")
    found = secrets_by_name(aws).get(name)
    where = aws.at("secretsmanager:ListSecrets", found["ARN"] if found else "")
    evidence.record("openai_secret", found and found["ARN"], source=where)
    findings = []
    if found is None:
        findings.append(Finding("OpenAI key secret", f"no secret named {name!r}",
                                "a Secrets Manager secret holding the OpenAI key", where))
    if apex_profile.target("kubernetes") is not None:
        findings += _literal_keys(request.getfixturevalue("kubernetes"), evidence)
    else:
        evidence.note("no [targets.kubernetes] in the profile: the cluster was not searched for "
                      "OPENAI_API_KEY literals")
    fail_check(findings=findings)


def _literal_keys(kubernetes: Any, evidence: Any) -> list[Finding]:
    """OPENAI_API_KEY given as a literal value in a Deployment, a CronJob or a ConfigMap."""
    from pytest_apexready import k8s_objects as k8s

    hits = []
    for kind in ("Deployment", "CronJob"):
        for obj in kubernetes.list(kind):
            spec = obj.get("spec", {})
            pod = (spec.get("jobTemplate", {}).get("spec", {}) if kind == "CronJob" else spec)
            for c in pod.get("template", {}).get("spec", {}).get("containers", []):
                for env in c.get("env", []) or []:
                    if env.get("name") == "OPENAI_API_KEY" and "value" in env:
                        hits.append(f"{kind}/{obj['metadata']['name']} container {c['name']}")
    for cm in kubernetes.list("ConfigMap"):
        if "OPENAI_API_KEY" in (cm.get("data") or {}):
            hits.append(f"ConfigMap/{cm['metadata']['name']}")
    where = k8s.where(kubernetes, "GET deployments, cronjobs, configmaps")
    evidence.record("openai_literals_in_cluster", hits, source=where)
    return [Finding("OPENAI_API_KEY literal in the cluster", hits, "none (valueFrom a Secret only)", where)] if hits \
        else []


@check("5.1.5")
def test_image_scanning(aws, evidence):
    repos = {r["repositoryName"]: r for r in aws.read("ecr", "describe_repositories")["repositories"]}
    wanted = aws.setting("repositories", "the ECR repositories the running images come from")
    images = aws.settings.get("images") or []
    max_high = int(aws.settings.get("max_high_findings", 0))
    findings, seen = [], {}
    for name in wanted:
        repo = repos.get(name)
        if repo is None:
            raise aws.not_found("ECR repository", name, "ecr:DescribeRepositories")
        where = aws.at("ecr:DescribeRepositories", repo["repositoryArn"])
        on_push = repo.get("imageScanningConfiguration", {}).get("scanOnPush", False)
        seen[name] = {"arn": repo["repositoryArn"], "scanOnPush": on_push}
        if not on_push:
            findings.append(Finding(f"{name} scan on push", on_push, True, where))
    for image in images:
        name, _, image_tag = image.rpartition(":")
        arn = repos[name]["repositoryArn"] if name in repos else name
        scan = aws.read_or({"ScanNotFoundException", "ImageNotFoundException"}, "ecr", "describe_image_scan_findings",
                           repositoryName=name, imageId={"imageTag": image_tag})
        where = aws.at("ecr:DescribeImageScanFindings", f"{arn}:{image_tag}")
        if scan is None:
            findings.append(Finding(f"scan of {image}", "none", "a completed scan", where))
            continue
        status = scan.get("imageScanStatus", {}).get("status")
        counts = scan.get("imageScanFindings", {}).get("findingSeverityCounts", {})
        seen[image] = {"status": status, "severity_counts": counts}
        if status != "COMPLETE":
            findings.append(Finding(f"scan of {image}", status, "COMPLETE", where))
        if counts.get("CRITICAL", 0):
            findings.append(Finding(f"CRITICAL findings in {image}", counts["CRITICAL"], 0, where))
        if counts.get("HIGH", 0) > max_high:
            findings.append(Finding(f"HIGH findings in {image}", counts["HIGH"], f"<= {max_high}", where))
    evidence.record("image_scanning", seen, source="ecr:DescribeRepositories, ecr:DescribeImageScanFindings")
    fail_check(findings=findings)


@check("8.1.5")
def test_secret_rotation(aws, evidence):
    wanted = aws.setting("secrets", "a table naming the secrets (openai, postgres, ...)")
    listed = secrets_by_name(aws)
    findings, seen = [], {}
    for role, name in wanted.items():
        s = listed.get(name)
        if s is None:
            findings.append(Finding(f"secret {name} ({role})", "not found", "a Secrets Manager secret",
                                    aws.at("secretsmanager:ListSecrets")))
            continue
        where = aws.at("secretsmanager:ListSecrets", s["ARN"])
        days = (s.get("RotationRules") or {}).get("AutomaticallyAfterDays")
        last = s.get("LastRotatedDate")
        versions = len(s.get("SecretVersionsToStages") or {})
        seen[name] = {"arn": s["ARN"], "rotation": s.get("RotationEnabled", False), "every_days": days,
                      "last_rotated": str(last) if last else None, "versions": versions}
        if not s.get("RotationEnabled"):
            findings.append(Finding(f"rotation of {name}", "disabled", "enabled", where))
        elif days and (last is None or NOW - last > dt.timedelta(days=days) + ROTATION_SLACK):
            findings.append(Finding(f"last rotation of {name}", str(last) if last else "never",
                                    f"within {days} days", where))
        if versions < 2:
            findings.append(Finding(f"versions of {name}", versions, "more than one", where))
    evidence.record("secrets", seen, source=aws.at("secretsmanager:ListSecrets"))
    fail_check(findings=findings)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:botocore")
