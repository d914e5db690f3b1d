"""Section 1.1, the AWS halves: EKS, RDS and ElastiCache versions; the load balancer, CloudFront, ACM.

Every check reads through the ``aws`` fixture (Describe, List and Get calls only, each made once
per run) and fails with the observed value, the expected value and the API call and ARN it read.
The other halves (API server, PostgreSQL, Redis, the live certificate) are read by the Kubernetes,
database and edge checks. The network is in ``test_aws_network.py``, backups in ``test_aws_backups.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pytest_apexready import Finding, check, fail_check
from pytest_apexready.aws_objects import aware, db_instance, load_balancer, replication_group

NOW = dt.datetime.now(dt.UTC)


def _major(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:2])


# --------------------------------------------------------------------------- 1.1 cluster and databases

@check("1.1.1", part="aws")
def test_eks_version(aws, expect, evidence):
    name = aws.setting("eks_cluster", "the EKS cluster name")
    answer = aws.read_or({"ResourceNotFoundException"}, "eks", "describe_cluster", name=name)
    if answer is None:
        raise aws.not_found("EKS cluster", name, "eks:DescribeCluster")
    cluster = answer["cluster"]
    where = aws.at("eks:DescribeCluster", cluster["arn"])
    evidence.record("eks_cluster", {"arn": cluster["arn"], "version": cluster["version"],
                                    "status": cluster.get("status")}, source=where)
    findings = []
    want = expect["kubernetes_min_version"]
    if _major(cluster["version"]) < _major(want):
        findings.append(Finding("EKS version", cluster["version"], f">= {want}", where))
    if cluster.get("status") != "ACTIVE":
        findings.append(Finding("EKS cluster status", cluster.get("status"), "ACTIVE", where))
    fail_check(findings=findings)


@check("1.1.2", part="aws")
def test_rds_version_multi_az(aws, expect, evidence):
    db = db_instance(aws)
    where = aws.at("rds:DescribeDBInstances", db["DBInstanceArn"])
    seen = {k: db.get(k) for k in ("Engine", "EngineVersion", "MultiAZ", "StorageEncrypted", "PubliclyAccessible")}
    evidence.record("db_instance", {"arn": db["DBInstanceArn"], **seen}, source=where)
    want = expect["postgres_min_version"]
    findings = []
    if db.get("Engine") not in ("postgres", "aurora-postgresql"):
        findings.append(Finding("RDS engine", db.get("Engine"), "postgres", where))
    if _major(db.get("EngineVersion", "0"))[:1] < (want,):
        findings.append(Finding("RDS engine version", db.get("EngineVersion"), f">= {want}", where))
    if not db.get("MultiAZ"):
        findings.append(Finding("RDS Multi-AZ", db.get("MultiAZ"), True, where))
    if not db.get("StorageEncrypted"):
        findings.append(Finding("RDS storage encryption", db.get("StorageEncrypted"), True, where))
    if db.get("PubliclyAccessible"):
        findings.append(Finding("RDS publicly accessible", True, False, where))
    fail_check(findings=findings)


@check("1.1.4", part="aws")
def test_elasticache_replication_group(aws, expect, evidence):
    group = replication_group(aws)
    where = aws.at("elasticache:DescribeReplicationGroups", group["ARN"])
    members = set(group.get("MemberClusters", []))
    clusters = [c for c in aws.read("elasticache", "describe_cache_clusters")["CacheClusters"]
                if c["CacheClusterId"] in members or c.get("ReplicationGroupId") == group["ReplicationGroupId"]]
    versions = sorted({c.get("EngineVersion", "?") for c in clusters})
    seen = {"AutomaticFailover": group.get("AutomaticFailover"), "MultiAZ": group.get("MultiAZ"),
            "SnapshotRetentionLimit": group.get("SnapshotRetentionLimit"), "EngineVersions": versions}
    evidence.record("replication_group", {"arn": group["ARN"], **seen},
                    source=f"{where}; elasticache:DescribeCacheClusters")
    want = expect["redis_min_version"]
    findings = []
    old = [v for v in versions if _major(v)[:1] < (want,)]
    if not versions or old:
        findings.append(Finding("ElastiCache engine version", versions or "no member clusters listed", f">= {want}",
                                aws.at("elasticache:DescribeCacheClusters", group["ARN"])))
    if group.get("AutomaticFailover") != "enabled":
        findings.append(Finding("automatic failover", group.get("AutomaticFailover"), "enabled", where))
    if group.get("MultiAZ") != "enabled":
        findings.append(Finding("Multi-AZ", group.get("MultiAZ"), "enabled", where))
    if not group.get("SnapshotRetentionLimit"):
        findings.append(Finding("snapshot retention (days)", group.get("SnapshotRetentionLimit"), ">= 1", where))
    fail_check(findings=findings)


# --------------------------------------------------------------------------- 1.1 edge

@check("1.1.5")
def test_load_balancer_health_checks(aws, evidence):
    lb = load_balancer(aws)
    arn = lb["LoadBalancerArn"]
    where = aws.at("elasticloadbalancing:DescribeLoadBalancers", arn)
    findings = []
    if lb.get("State", {}).get("Code") != "active":
        findings.append(Finding("load balancer state", lb.get("State", {}).get("Code"), "active", where))
    groups = [g for g in aws.read("elbv2", "describe_target_groups")["TargetGroups"]
              if arn in g.get("LoadBalancerArns", [])]
    if not groups:
        findings.append(Finding("target groups", "none", "at least one target group behind the load balancer",
                                aws.at("elasticloadbalancing:DescribeTargetGroups", arn)))
    want_path = aws.settings.get("health_check_path")
    seen = {}
    for g in groups:
        tg_where = aws.at("elasticloadbalancing:DescribeTargetGroups", g["TargetGroupArn"])
        path, matcher = g.get("HealthCheckPath"), (g.get("Matcher") or {}).get("HttpCode") or \
            (g.get("Matcher") or {}).get("GrpcCode")
        health = aws.read("elbv2", "describe_target_health", TargetGroupArn=g["TargetGroupArn"])
        states = {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in health["TargetHealthDescriptions"]}
        seen[g["TargetGroupName"]] = {"arn": g["TargetGroupArn"], "path": path, "matcher": matcher, "targets": states}
        if g.get("HealthCheckProtocol", "HTTP").startswith("HTTP"):
            if want_path and path != want_path:
                findings.append(Finding(f"{g['TargetGroupName']} health-check path", path, want_path, tg_where))
            elif not path or path == "/":
                findings.append(Finding(f"{g['TargetGroupName']} health-check path", path,
                                        "a health endpoint (such as /health), not the site root", tg_where))
            if not matcher:
                findings.append(Finding(f"{g['TargetGroupName']} matcher", matcher, "an HTTP code matcher", tg_where))
        if not g.get("HealthCheckEnabled", True):
            findings.append(Finding(f"{g['TargetGroupName']} health checks", "disabled", "enabled", tg_where))
        bad = {t: s for t, s in states.items() if s != "healthy"}
        if bad or not states:
            findings.append(Finding(f"{g['TargetGroupName']} targets", bad or "no targets registered",
                                    "every target healthy",
                                    aws.at("elasticloadbalancing:DescribeTargetHealth", g["TargetGroupArn"])))
    evidence.record("load_balancer", {"arn": arn, "state": lb.get("State", {}).get("Code")}, source=where)
    evidence.record("target_groups", seen, source="elasticloadbalancing:DescribeTargetGroups, DescribeTargetHealth")
    fail_check(findings=findings)


def distribution(aws: Any) -> dict[str, Any]:
    name = aws.setting("distribution", "the CloudFront distribution's id, alias or comment")
    items = aws.read("cloudfront", "list_distributions")["DistributionList"].get("Items", [])
    for d in items:
        if name in (d["Id"], d.get("Comment"), *d.get("Aliases", {}).get("Items", [])):
            return dict(d)
    raise aws.not_found("CloudFront distribution", name, "cloudfront:ListDistributions")


@check("1.1.6")
def test_cloudfront_origins_https(aws, evidence):
    d = distribution(aws)
    where = aws.at("cloudfront:ListDistributions", d["ARN"])
    origins = [o["DomainName"] for o in d["Origins"].get("Items", [])]
    behaviors = [d["DefaultCacheBehavior"], *d.get("CacheBehaviors", {}).get("Items", [])]
    tls = d.get("ViewerCertificate", {}).get("MinimumProtocolVersion", "")
    evidence.record("distribution", {"arn": d["ARN"], "status": d.get("Status"), "origins": origins,
                                     "viewer_protocol": [b["ViewerProtocolPolicy"] for b in behaviors],
                                     "minimum_tls": tls}, source=where)
    findings = []
    if d.get("Status") != "Deployed" or not d.get("Enabled"):
        findings.append(Finding("distribution status", f"{d.get('Status')}, enabled={d.get('Enabled')}",
                                "Deployed and enabled", where))
    want = aws.setting("origins", "the origin domain names (API and console)")
    missing = [o for o in want if o not in origins]
    if missing:
        findings.append(Finding("origins", origins, f"includes {want}", where))
    plain = [b.get("PathPattern", "default") for b in behaviors
             if b["ViewerProtocolPolicy"] not in ("https-only", "redirect-to-https")]
    if plain:
        findings.append(Finding("viewer protocol policy", {p: "allow-all" for p in plain},
                                "https-only or redirect-to-https on every behavior", where))
    if not re.match(r"TLSv1\.[23]", tls):
        findings.append(Finding("minimum viewer TLS version", tls or "CloudFront default certificate",
                                "TLSv1.2_2021 or later", where))
    http_origins = [o["DomainName"] for o in d["Origins"].get("Items", [])
                    if o.get("CustomOriginConfig", {}).get("OriginProtocolPolicy", "https-only") != "https-only"]
    if http_origins:
        findings.append(Finding("origin protocol policy", http_origins, "https-only to every custom origin", where))
    fail_check(findings=findings)


def _covers(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        return name.count(".") == pattern.count(".") and name.endswith(pattern[1:])
    return pattern == name


@check("1.1.8", part="aws")
def test_acm_certificates(aws, expect, evidence):
    names = aws.setting("public_names", "the public host names (api, console, status, cdn)")
    min_days = expect.get("cert_min_days", 30)
    certs = []
    summaries = aws.read("acm", "list_certificates")["CertificateSummaryList"]
    if not summaries:  # not one certificate: the wrong region or account, rather than a finding
        raise aws.not_found("any ACM certificate", "*", "acm:ListCertificates")
    for summary in summaries:
        cert = aws.read("acm", "describe_certificate", CertificateArn=summary["CertificateArn"])["Certificate"]
        certs.append(cert)
    seen, findings = {}, []
    for name in names:
        covering = [c for c in certs if any(_covers(p, name) for p in c.get("SubjectAlternativeNames",
                                                                             [c["DomainName"]]))]
        issued = [c for c in covering if c.get("Status") == "ISSUED"]
        best = max(issued, key=lambda c: c.get("NotAfter") or NOW, default=None)
        seen[name] = [{"arn": c["CertificateArn"], "status": c.get("Status"),
                       "not_after": str(c.get("NotAfter"))} for c in covering]
        if best is None:
            findings.append(Finding(f"certificate for {name}", [c.get("Status") for c in covering] or "none",
                                    "an ISSUED ACM certificate",
                                    aws.at("acm:DescribeCertificate",
                                           ", ".join(c["CertificateArn"] for c in covering))))
            continue
        left = (aware(best["NotAfter"]) - NOW).total_seconds() / 86400 if best.get("NotAfter") else 0
        if left < min_days:
            findings.append(Finding(f"days left on the certificate for {name}", round(left, 1),
                                    f">= {min_days}", aws.at("acm:DescribeCertificate", best["CertificateArn"])))
    evidence.record("certificates", seen, source=aws.at("acm:ListCertificates, acm:DescribeCertificate"))
    fail_check(findings=findings)
