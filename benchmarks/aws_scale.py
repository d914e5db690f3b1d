"""The AWS checks against a large account: calls made and wall time, against a plain-boto3 floor.

    python benchmarks/aws_scale.py [--sgs 500] [--tgs 200] [--objects 1000] [--runs 3]

Starts its own moto server (``python -m sandbox.aws serve --scale``) seeded with the sandbox's two
accounts plus, in each, ``--sgs`` extra security groups, ``--tgs`` extra target groups (each with a
listener on the ALB) and ``--objects`` extra daily exports. Then, ``--runs`` times each:

- ``checks``: ``pytest -m aws`` on the real suites (a fresh process: interpreter, plugin, collection);
- ``floor``: a fresh process that makes the same API calls with plain boto3 and does nothing else.

The calls are counted by moto's recorder (every HTTP request, pages included). Prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "aws")]


def floor(endpoint: str) -> None:
    """The checks' calls, in plain boto3 (paginated the same way), for the compliant account."""
    import boto3

    from sandbox import aws_seed as seed

    s = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=seed.REGION)

    def c(name: str) -> Any:
        return s.client(name, endpoint_url=endpoint)

    def pages(client: Any, op: str, **kw: Any) -> Any:
        return client.get_paginator(op).paginate(**kw).build_full_result()

    c("sts").get_caller_identity()
    ec2 = c("ec2")
    for op in ("describe_vpcs", "describe_subnets", "describe_route_tables", "describe_security_groups",
               "describe_nat_gateways", "describe_instances"):
        pages(ec2, op)
    c("eks").describe_cluster(name=seed.NAME)
    pages(c("rds"), "describe_db_instances")
    ec = c("elasticache")
    for op in ("describe_replication_groups", "describe_cache_clusters", "describe_cache_subnet_groups"):
        pages(ec, op)
    elb = c("elbv2")
    lbs = pages(elb, "describe_load_balancers")["LoadBalancers"]
    alb = next(lb["LoadBalancerArn"] for lb in lbs if lb["LoadBalancerName"] == "apexmediation-alb")
    for tg in pages(elb, "describe_target_groups")["TargetGroups"]:
        if alb in tg.get("LoadBalancerArns", []):
            elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
    pages(c("cloudfront"), "list_distributions")
    acm = c("acm")
    for cert in pages(acm, "list_certificates")["CertificateSummaryList"]:
        acm.describe_certificate(CertificateArn=cert["CertificateArn"])
    waf = c("wafv2")
    acl = next(a for a in waf.list_web_acls(Scope="REGIONAL")["WebACLs"] if a["Name"] == "apexmediation-waf")
    waf.get_web_acl(Name=acl["Name"], Scope="REGIONAL", Id=acl["Id"])
    waf.get_web_acl_for_resource(ResourceArn=alb)
    sh = s.client("shield", endpoint_url=endpoint, region_name="us-east-1")
    sh.describe_subscription()
    pages(sh, "list_protections")
    pages(c("secretsmanager"), "list_secrets")
    ecr = c("ecr")
    pages(ecr, "describe_repositories")
    for repo in seed.REPOSITORIES:
        pages(ecr, "describe_image_scan_findings", repositoryName=repo, imageId={"imageTag": seed.IMAGE_TAG})
    s3 = c("s3")
    for prefix in (seed.EXPORT_PREFIX, seed.BACKUP_PREFIX):
        pages(s3, "list_objects_v2", Bucket=seed.BUCKET, Prefix=prefix)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sgs", type=int, default=500)
    ap.add_argument("--tgs", type=int, default=200)
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--floor", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor:
        floor(args.floor)
        return 0
    import importlib

    # the self-tests' helpers (tests/aws/awsutil.py, tests/netutil.py), found through sys.path above
    awsutil, netutil = importlib.import_module("awsutil"), importlib.import_module("netutil")
    SUITES, key_env, moto_api, moto_server = awsutil.SUITES, awsutil.key_env, awsutil.moto_api, awsutil.moto_server
    profile, recorded, free_port = awsutil.profile, awsutil.recorded, netutil.free_port

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        scale = f"{args.sgs},{args.tgs},{args.objects}"
        with moto_server(Path(tmp), free_port(), scale=scale) as url:
            seeded = time.monotonic() - t0
            prof = Path(tmp) / "profile.toml"
            prof.write_text(profile(url))
            env = {**os.environ, **key_env()}
            checks = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "aws", "--env", str(prof),
                      "--apex-no-report", "-c", str(ROOT / "pyproject.toml"), *[str(ROOT / s) for s in SUITES]]
            fl = [sys.executable, __file__, "--floor", url]
            rows = {}
            for name, cmd in (("checks (pytest -m aws)", checks), ("floor (plain boto3)", fl)):
                times, calls = [], 0
                for _ in range(args.runs):
                    moto_api(url, "recorder/reset-recording", b"")
                    moto_api(url, "recorder/start-recording", b"")
                    t = time.monotonic()
                    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
                    times.append(time.monotonic() - t)
                    moto_api(url, "recorder/stop-recording", b"")
                    calls = len(recorded(url))
                    # the checklist is not ready (other sections) with exit 1: only a failed check counts here
                    if proc.returncode not in (0, 1) or " failed" in proc.stdout or " error" in proc.stdout:
                        print(proc.stdout[-3000:], proc.stderr[-3000:])
                        raise SystemExit(f"{name} exited {proc.returncode}")
                rows[name] = (calls, statistics.median(times), min(times))
    print(f"account: +{args.sgs} security groups, +{args.tgs} target groups, +{args.objects} export objects "
          f"(seeded in {seeded:.1f} s); {args.runs} runs each, fresh process per run")
    print(f"{'':<24} {'HTTP requests':>13} {'median s':>9} {'min s':>7}")
    for name, (calls, med, best) in rows.items():
        print(f"{name:<24} {calls:>13} {med:>9.2f} {best:>7.2f}")
    print(json.dumps({k: {"requests": v[0], "median_s": round(v[1], 2)} for k, v in rows.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
