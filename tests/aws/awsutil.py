"""Shared by the AWS self-tests: a moto server of their own, profiles for it, the recorded requests."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox import aws as sandbox_aws
from sandbox import aws_seed as seed

SUITES = ("tests_infra/test_aws_cluster.py", "tests_infra/test_aws_network.py", "tests_infra/test_aws_backups.py",
          "tests_security/test_aws_security.py", "tests_app/test_registry.py")
AWS_ITEMS = ["1.1.1", "1.1.2", "1.1.4", "1.1.5", "1.1.6", "1.1.8", "1.2.1", "1.2.2", "1.2.3", "1.2.4", "1.2.5",
             "1.2.6", "1.3.5", "2.1.6", "3.1.1", "3.2.1", "4.1.1", "5.1.5", "8.1.1", "8.1.2", "8.1.5"]
#: items the AWS checks prove in part (the other part is another target's)
PARTS = {"1.1.1", "1.1.2", "1.1.4", "1.1.8", "1.2.4", "1.3.5", "2.1.6", "3.1.1", "3.2.1"}
#: the names of the parts read from AWS ("registry": ECR, of 3.1.1 and 3.2.1)
AWS_PARTS = ("aws", "registry")
#: items read through ECR's DescribeImages: they fail only on the tags the sandbox cluster runs
REGISTRY_ITEMS = ("3.1.1", "3.2.1")


@contextmanager
def moto_server(tmp: Path, port: int, *, env: dict[str, str] | None = None, scale: str = "") -> Iterator[str]:
    """A seeded moto server on ``port`` for one test module; stopped afterwards."""
    extra = ["--scale", scale] if scale else []
    proc = sandbox_aws.start(port, tmp, log=tmp / "moto.log", extra=extra, env=env, timeout=300)
    try:
        yield sandbox_aws.endpoint(port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def profile(endpoint: str, *, drifted: bool = False, keys: tuple[str, str] = ("testing", "testing"),
            extra: str = "", region: str = seed.REGION, **settings: object) -> str:
    """A profile with only [targets.aws], for the compliant account or (drifted=True) the drifted one."""
    values: dict[str, object] = {
        "region": region, "endpoint_url": endpoint, "connect_timeout": 2, "read_timeout": 5,
        "vpc": seed.NAME, "eks_cluster": seed.NAME, "db_instance": seed.NAME,
        "replication_group": "apexmediation-redis", "load_balancer": "apexmediation-alb",
        "health_check_path": "/health", "distribution": f"cdn.{seed.DOMAIN}",
        "origins": [f"api.{seed.DOMAIN}", f"console.{seed.DOMAIN}"], "public_names": seed.PUBLIC_NAMES,
        "web_acl": "apexmediation-waf", "shield": "advanced", "bastion": "apexmediation-bastion",
        "bastion_cidrs": [seed.OFFICE_CIDR], "repositories": seed.REPOSITORIES,
        "images": [f"{r}:{seed.IMAGE_TAG}" for r in seed.REPOSITORIES], "max_high_findings": 0,
        "backup_bucket": seed.DRIFTED_BUCKET if drifted else seed.BUCKET,
        "export_prefix": seed.EXPORT_PREFIX, "backup_prefix": seed.BACKUP_PREFIX,
        "access_key_id": "${APEX_TEST_AWS_KEY}", "secret_access_key": "${APEX_TEST_AWS_SECRET}",
    }
    if drifted:
        values["role_arn"] = seed.DRIFTED_ROLE
    values.update(settings)
    lines = ['description = "AWS self-test"', "[targets.aws]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items() if v is not None]
    lines.append('secrets = { ' + ", ".join(f'{k} = "{v}"' for k, v in seed.SECRETS.items()) + " }")
    return "\n".join(lines) + "\n" + extra


def key_env(keys: tuple[str, str] = ("testing", "testing")) -> dict[str, str]:
    return {"APEX_TEST_AWS_KEY": keys[0], "APEX_TEST_AWS_SECRET": keys[1]}


def moto_api(endpoint: str, path: str, body: bytes | None = None) -> bytes:
    # a bare body: moto reads request.data, which Flask leaves empty for a form content type
    req = urllib.request.Request(f"{endpoint}/moto-api/{path}", data=body, method="POST" if body is not None
                                 else "GET", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return bytes(resp.read())


def operation(entry: dict) -> str:
    """The API operation of one recorded request: query Action, JSON X-Amz-Target, or REST method + path."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    if "x-amz-target" in headers:
        return str(headers["x-amz-target"]).rsplit(".", 1)[-1]
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        import base64

        body = base64.b64decode(body).decode(errors="replace")
    form = urllib.parse.parse_qs(body) if isinstance(body, str) else {}
    if "Action" in form:
        return form["Action"][0]
    return f"{entry['method']} {urllib.parse.urlparse(entry['url']).path}"


def recorded(endpoint: str) -> list[dict]:
    text = moto_api(endpoint, "recorder/download-recording").decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]
