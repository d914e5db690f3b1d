"""Sections 1 and 8, the AWS halves: cluster, databases, edge, network, backups.

Every check reads through the ``aws`` fixture (Describe, List and Get calls only, each made once
per run) and fails with the observed value, the expected value and the API call and ARN it read.
The other halves (API server, PostgreSQL, Redis, CronJobs, the live certificate) are read by
the Kubernetes, database and edge checks.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pytest_apexready import Finding, check, fail_check
from pytest_apexready.targets.aws import tag

NOW = dt.datetime.now(dt.UTC)
#: a daily job's newest output may be this old before the day's run is missed
DAILY = dt.timedelta(hours=26)


def aware(when: dt.datetime) -> dt.datetime:
    """AWS sends zoned times; a bare one (some moto answers) is UTC."""
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _major(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:2])


def db_instance(aws: Any) -> dict[str, Any]:
    name = aws.setting("db_instance", "the RDS instance identifier")
    found = [d for d in aws.read("rds", "describe_db_instances")["DBInstances"] if d["DBInstanceIdentifier"] == name]
    if not found:
        raise aws.not_found("RDS instance", name, "rds:DescribeDBInstances")
    return dict(found[0])


def load_balancer(aws: Any) -> dict[str, Any]:
    name = aws.setting("load_balancer", "the ALB/NLB name")
    found = [lb for lb in aws.read("elbv2", "describe_load_balancers")["LoadBalancers"]
             if lb["LoadBalancerName"] == name]
    if not found:
        raise aws.not_found("load balancer", name, "elasticloadbalancing:DescribeLoadBalancers")
    return dict(found[0])


def ec2(aws: Any, kind: str, ident: str) -> str:
    """The ARN of an EC2 resource (a VPC, a route table, a security group)."""
    return str(aws.arn("ec2", f"{kind}/{ident}"))


def vpc_id(aws: Any) -> str:
    name = aws.setting("vpc", "the VPC's Name tag or id")
    for v in aws.read("ec2", "describe_vpcs")["Vpcs"]:
        if name in (v["VpcId"], tag(v, "Name")):
            return str(v["VpcId"])
    raise aws.not_found("VPC", name, "ec2:DescribeVpcs")


def route_tables(aws: Any, vpc: str) -> dict[str, dict[str, Any]]:
    """subnet id -> its route table (the explicit association, else the VPC's main table)."""
    tables = [t for t in aws.read("ec2", "describe_route_tables")["RouteTables"] if t["VpcId"] == vpc]
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
    subnets = [s["SubnetId"] for s in aws.read("ec2", "describe_subnets")["Subnets"] if s["VpcId"] == vpc]
    out = {s: main for s in subnets if main}
    for t in tables:
        for a in t.get("Associations", []):
            if a.get("SubnetId"):
                out[a["SubnetId"]] = t
    return out


def default_route(table: dict[str, Any]) -> str:
    """What 0.0.0.0/0 goes to in a route table ('' when nothing)."""
    for r in table.get("Routes", []):
        if r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("State", "active") == "active":
            return str(r.get("NatGatewayId") or r.get("GatewayId") or r.get("TransitGatewayId") or
                       r.get("NetworkInterfaceId") or r.get("InstanceId") or "")
    return ""


def database_subnets(aws: Any) -> list[str]:
    db = db_instance(aws)
    subnets = [s["SubnetIdentifier"] for s in (db.get("DBSubnetGroup") or {}).get("Subnets", [])]
    group = replication_group(aws)
    members = {m for m in group.get("MemberClusters", [])}
    cache_groups = {c.get("CacheSubnetGroupName") for c in aws.read("elasticache", "describe_cache_clusters")
                    ["CacheClusters"] if c["CacheClusterId"] in members}
    for g in aws.read("elasticache", "describe_cache_subnet_groups")["CacheSubnetGroups"]:
        if g["CacheSubnetGroupName"] in cache_groups:
            subnets += [s["SubnetIdentifier"] for s in g.get("Subnets", [])]
    return sorted(set(subnets))


def replication_group(aws: Any) -> dict[str, Any]:
    name = aws.setting("replication_group", "the ElastiCache replication group id")
    found = [g for g in aws.read("elasticache", "describe_replication_groups")["ReplicationGroups"]
             if g["ReplicationGroupId"] == name]
    if not found:
        raise aws.not_found("ElastiCache replication group", name, "elasticache:DescribeReplicationGroups")
    return dict(found[0])


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


# --------------------------------------------------------------------------- 1.2 network

@check("1.2.1")
def test_vpc_subnets(aws, evidence):
    vpc = vpc_id(aws)
    tables = route_tables(aws, vpc)
    findings = []
    db_subnets = database_subnets(aws)
    routes = {s: default_route(tables[s]) if s in tables else "" for s in db_subnets}
    evidence.record("database_subnets", routes, source=aws.at("ec2:DescribeRouteTables", ec2(aws, "vpc", vpc)))
    for s, target in routes.items():
        if target.startswith("igw-"):
            table = ec2(aws, "route-table", tables[s]["RouteTableId"])
            findings.append(Finding(f"database subnet {s} default route", target, "no route to an internet gateway",
                                    aws.at("ec2:DescribeRouteTables", table)))
    if not db_subnets:
        findings.append(Finding("database subnets", "none in the RDS and ElastiCache subnet groups",
                                "private subnets", aws.at("rds:DescribeDBInstances")))
    lb = load_balancer(aws)
    lb_subnets = [z["SubnetId"] for z in lb.get("AvailabilityZones", [])]
    lb_routes = {s: default_route(tables[s]) if s in tables else "" for s in lb_subnets}
    evidence.record("load_balancer_subnets", lb_routes, source=aws.at("ec2:DescribeRouteTables", ec2(aws, "vpc", vpc)))
    for s, target in lb_routes.items():
        if lb.get("Scheme") == "internet-facing" and not target.startswith("igw-"):
            findings.append(Finding(f"load balancer subnet {s} default route", target or "none",
                                    "an internet gateway (a public subnet)",
                                    aws.at("ec2:DescribeRouteTables", ec2(aws, "vpc", vpc))))
    fail_check(findings=findings)


def _sources(rule: dict[str, Any]) -> list[str]:
    return ([r["CidrIp"] for r in rule.get("IpRanges", [])] + [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
            + [g["GroupId"] for g in rule.get("UserIdGroupPairs", [])]
            + [p["PrefixListId"] for p in rule.get("PrefixListIds", [])])


def _ports(rule: dict[str, Any]) -> str:
    if rule.get("IpProtocol") == "-1":
        return "all"
    lo, hi = rule.get("FromPort"), rule.get("ToPort")
    return f"{rule.get('IpProtocol')}/{lo}" if lo == hi else f"{rule.get('IpProtocol')}/{lo}-{hi}"


@check("1.2.2")
def test_security_groups(aws, evidence):
    vpc = vpc_id(aws)
    lb_groups = set(load_balancer(aws).get("SecurityGroups", []))
    groups = [g for g in aws.read("ec2", "describe_security_groups")["SecurityGroups"] if g.get("VpcId") == vpc]
    listed, findings = {}, []
    for g in groups:
        label = f"{g['GroupName']} ({g['GroupId']})"
        listed[label] = [f"{_ports(r)} from {', '.join(_sources(r))}" for r in g.get("IpPermissions", [])]
        for r in g.get("IpPermissions", []):
            world = [s for s in _sources(r) if s in ("0.0.0.0/0", "::/0")]
            if not world:
                continue
            web = r.get("IpProtocol") == "tcp" and r.get("FromPort") == r.get("ToPort") in (80, 443)
            if not (web and g["GroupId"] in lb_groups):
                findings.append(Finding(f"{label} inbound {_ports(r)}", f"open to {', '.join(world)}",
                                        "only 80/443 on the load balancer's groups open to the internet",
                                        aws.at("ec2:DescribeSecurityGroups",
                                               ec2(aws, "security-group", g["GroupId"]))))
    evidence.record("inbound_rules", listed, source=aws.at("ec2:DescribeSecurityGroups", ec2(aws, "vpc", vpc)))
    fail_check(findings=findings)


@check("1.2.3")
def test_nat_gateways(aws, evidence):
    vpc = vpc_id(aws)
    tables = route_tables(aws, vpc)
    nats = {n["NatGatewayId"]: n.get("State") for n in aws.read("ec2", "describe_nat_gateways")["NatGateways"]
            if n.get("VpcId") == vpc}
    private = {tables[s]["RouteTableId"]: tables[s] for s in database_subnets(aws) if s in tables}
    seen, findings = {}, []
    for rt_id, table in private.items():
        target = default_route(table)
        seen[rt_id] = {"0.0.0.0/0": target or "none", "nat_state": nats.get(target)}
        if not target.startswith("nat-") or nats.get(target) != "available":
            findings.append(Finding(f"private route table {rt_id} default route",
                                    f"{target or 'none'}" + (f" ({nats.get(target)})" if target in nats else ""),
                                    "an available NAT gateway",
                                    aws.at("ec2:DescribeRouteTables", ec2(aws, "route-table", rt_id))))
    evidence.record("nat_gateways", nats, source=aws.at("ec2:DescribeNatGateways", ec2(aws, "vpc", vpc)))
    evidence.record("private_route_tables", seen, source=aws.at("ec2:DescribeRouteTables", ec2(aws, "vpc", vpc)))
    if not nats:
        findings.append(Finding("NAT gateways", "none", "at least one available NAT gateway",
                                aws.at("ec2:DescribeNatGateways", ec2(aws, "vpc", vpc))))
    fail_check(findings=findings)


@check("1.2.4", part="aws")
def test_bastion(aws, evidence):
    name = aws.settings.get("bastion")
    if not name:
        evidence.note("the profile names no bastion ([targets.aws] bastion unset): not needed, and none is checked")
        return
    allowed = set(aws.setting("bastion_cidrs", "the CIDRs allowed to reach the bastion's SSH port"))
    vpc = vpc_id(aws)
    instances = [i for r in aws.read("ec2", "describe_instances")["Reservations"] for i in r["Instances"]
                 if tag(i, "Name") == name and i.get("State", {}).get("Name") != "terminated"]
    if not instances:
        raise aws.not_found("bastion instance (Name tag)", name, "ec2:DescribeInstances")
    inst = instances[0]
    where = aws.at("ec2:DescribeInstances", aws.arn("ec2", f"instance/{inst['InstanceId']}"))
    findings = []
    route = default_route(route_tables(aws, vpc).get(inst.get("SubnetId", ""), {}))
    if not route.startswith("igw-"):
        findings.append(Finding("bastion subnet", f"{inst.get('SubnetId')} routes 0.0.0.0/0 to {route or 'nothing'}",
                                "a public subnet (internet gateway)", where))
    group_ids = {g["GroupId"] for g in inst.get("SecurityGroups", [])}
    ssh = []
    for g in aws.read("ec2", "describe_security_groups")["SecurityGroups"]:
        if g["GroupId"] in group_ids:
            for r in g.get("IpPermissions", []):
                lo, hi = r.get("FromPort", 0), r.get("ToPort", 65535)
                if r.get("IpProtocol") == "-1" or (lo <= 22 <= hi):
                    ssh += [s for s in _sources(r) if "/" in s]
    evidence.record("bastion", {"instance": inst["InstanceId"], "subnet": inst.get("SubnetId"), "ssh_from": ssh},
                    source=where)
    extra = sorted(set(ssh) - allowed)
    if extra or not ssh:
        findings.append(Finding("SSH sources of the bastion", ssh or "none", f"only {sorted(allowed)}",
                                aws.at("ec2:DescribeSecurityGroups", ", ".join(sorted(group_ids)))))
    fail_check(findings=findings)


#: sshd's effective settings a bastion must have (``sshd -T`` prints them lower-case)
SSHD_WANTED = {"passwordauthentication": "no", "permitrootlogin": "no", "kbdinteractiveauthentication": "no",
               "pubkeyauthentication": "yes"}


@check("1.2.4", part="hosts")
def test_bastion_sshd(hosts, evidence):
    """The bastion's host half: keys only, no root, no passwords, read with testinfra over SSH."""
    if "bastion" not in hosts.settings:
        evidence.note("the profile names no bastion host ([targets.hosts] bastion unset): not needed")
        return
    effective = hosts.sshd_config("bastion")
    where = f"sshd -T on {hosts.settings['bastion']}"
    evidence.record("sshd", {k: effective.get(k) for k in (*SSHD_WANTED, "port", "authenticationmethods")},
                    source=where)
    evidence.record("listening", hosts.listening("bastion"), source=f"listening sockets on {hosts.settings['bastion']}")
    findings = [Finding(f"sshd {k}", effective.get(k, "unset"), v, where) for k, v in SSHD_WANTED.items()
                if effective.get(k) != v]
    methods = effective.get("authenticationmethods", "any")
    if methods not in ("any", "publickey"):
        findings.append(Finding("sshd authenticationmethods", methods, "publickey (or any, with the above)", where))
    fail_check(findings=findings)


def _statements(node: Any) -> list[dict[str, Any]]:
    """Every statement in a WAF rule, nested ones included."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        out.append(node)
        for v in node.values():
            out += _statements(v)
    elif isinstance(node, list):
        for v in node:
            out += _statements(v)
    return out


@check("1.2.5")
def test_waf(aws, evidence):
    name = aws.setting("web_acl", "the WAFv2 web ACL name")
    summary = next((a for a in aws.read("wafv2", "list_web_acls", Scope="REGIONAL")["WebACLs"] if a["Name"] == name),
                   None)
    if summary is None:
        raise aws.not_found("WAFv2 web ACL (REGIONAL)", name, "wafv2:ListWebACLs")
    acl = aws.read("wafv2", "get_web_acl", Name=name, Scope="REGIONAL", Id=summary["Id"])["WebACL"]
    where = aws.at("wafv2:GetWebACL", acl["ARN"])
    stmts = _statements(acl.get("Rules", []))
    rate = [s["RateBasedStatement"] for s in stmts if "RateBasedStatement" in s]
    managed = [s["ManagedRuleGroupStatement"]["Name"] for s in stmts if "ManagedRuleGroupStatement" in s]
    lb = load_balancer(aws)
    attached = aws.read_or({"WAFNonexistentItemException"}, "wafv2", "get_web_acl_for_resource",
                           ResourceArn=lb["LoadBalancerArn"]) or {}
    attached_arn = (attached.get("WebACL") or {}).get("ARN")
    evidence.record("web_acl", {"arn": acl["ARN"], "rules": [r["Name"] for r in acl.get("Rules", [])],
                                "managed_groups": managed, "rate_limits": [r.get("Limit") for r in rate],
                                "on_load_balancer": attached_arn}, source=where)
    findings = []
    if not rate:
        findings.append(Finding("rate-based rule", "none", "a rate-based rule", where))
    if "AWSManagedRulesCommonRuleSet" not in managed:
        findings.append(Finding("OWASP managed group", managed or "none", "AWSManagedRulesCommonRuleSet", where))
    if attached_arn != acl["ARN"]:
        findings.append(Finding("web ACL of the load balancer", attached_arn or "none", acl["ARN"],
                                aws.at("wafv2:GetWebACLForResource", lb["LoadBalancerArn"])))
    fail_check(findings=findings)


@check("1.2.6")
def test_shield(aws, evidence):
    level = aws.settings.get("shield", "advanced")
    if level == "standard":
        evidence.note("the profile requires only Shield Standard ([targets.aws] shield = \"standard\"), which AWS "
                      "applies to every account at no cost; nothing to read")
        return
    sub = aws.read_or({"ResourceNotFoundException"}, "shield", "describe_subscription")
    where = aws.at("shield:DescribeSubscription")
    if sub is None:
        fail_check("Shield Advanced subscription", observed="none (ResourceNotFoundException)",
                   expected="an active subscription ([targets.aws] shield = \"advanced\")", where=where)
    s = sub["Subscription"]
    protections = aws.read("shield", "list_protections").get("Protections", [])
    protected = {p["ResourceArn"] for p in protections}
    lb = load_balancer(aws)
    evidence.record("shield", {"subscription": s.get("SubscriptionArn"), "end": str(s.get("EndTime")),
                               "protected": sorted(protected)}, source=where)
    findings = []
    end = s.get("EndTime")
    if end is not None and aware(end) < NOW:
        findings.append(Finding("Shield Advanced subscription end", str(end), "in the future", where))
    if lb["LoadBalancerArn"] not in protected:
        findings.append(Finding("Shield protection of the load balancer", sorted(protected) or "none",
                                lb["LoadBalancerArn"], aws.at("shield:ListProtections")))
    fail_check(findings=findings)


# --------------------------------------------------------------------------- backups: 1.3.5, 2.1.6, 8.1

def newest(aws: Any, prefix_key: str) -> tuple[dict[str, Any] | None, str]:
    bucket = aws.setting("backup_bucket", "the S3 bucket holding the backups and exports")
    prefix = aws.setting(prefix_key, f"the key prefix of the {prefix_key.split('_')[0]}s in {bucket}")
    answer = aws.read_or({"NoSuchBucket"}, "s3", "list_objects_v2", Bucket=bucket, Prefix=prefix)
    if answer is None:
        raise aws.not_found("S3 bucket", bucket, "s3:ListBucket")
    objects = answer.get("Contents", [])
    where = aws.at("s3:ListBucket", f"arn:aws:s3:::{bucket}/{prefix}")
    return (max(objects, key=lambda o: o["LastModified"]) if objects else None), where


def _age(obj: dict[str, Any]) -> dt.timedelta:
    return NOW - aware(obj["LastModified"])


def _fresh(obj: dict[str, Any] | None, what: str, where: str) -> list[Finding]:
    if obj is None:
        return [Finding(what, "no object", f"an object newer than {DAILY}", where)]
    out = []
    if _age(obj) > DAILY:
        out.append(Finding(f"age of the newest {what}", f"{_age(obj).total_seconds() / 3600:.1f} h "
                           f"({obj['Key']})", f"< {DAILY.total_seconds() / 3600:g} h", where))
    if not obj.get("Size"):
        out.append(Finding(f"size of the newest {what}", f"0 bytes ({obj['Key']})", "not empty", where))
    return out


@check("1.3.5", part="aws")
def test_backups_running(aws, evidence):
    db = db_instance(aws)
    where = aws.at("rds:DescribeDBInstances", db["DBInstanceArn"])
    findings = []
    if not db.get("BackupRetentionPeriod"):
        findings.append(Finding("RDS automated backups", "off (BackupRetentionPeriod 0)", "on", where))
    for key, what in (("export_prefix", "ClickHouse export"), ("backup_prefix", "PostgreSQL backup")):
        obj, obj_where = newest(aws, key)
        evidence.record(f"newest {what}", obj and {"key": obj["Key"], "last_modified": str(obj["LastModified"]),
                                                   "size": obj.get("Size")}, source=obj_where)
        findings += _fresh(obj, what, obj_where)
    evidence.record("rds_backup_retention_days", db.get("BackupRetentionPeriod"), source=where)
    fail_check(findings=findings)


@check("2.1.6", part="aws")
def test_rds_retention(aws, expect, evidence):
    db = db_instance(aws)
    where = aws.at("rds:DescribeDBInstances", db["DBInstanceArn"])
    days, want = db.get("BackupRetentionPeriod", 0), expect["backup_retention_days"]
    evidence.record("BackupRetentionPeriod", days, source=where)
    if days < want:
        fail_check("RDS backup retention (days)", observed=days, expected=f">= {want}", where=where)


@check("8.1.1")
def test_rds_backups(aws, expect, evidence):
    db = db_instance(aws)
    where = aws.at("rds:DescribeDBInstances", db["DBInstanceArn"])
    days, want = db.get("BackupRetentionPeriod", 0), expect["backup_retention_days"]
    latest = db.get("LatestRestorableTime")
    evidence.record("rds_backups", {"BackupRetentionPeriod": days, "LatestRestorableTime": str(latest)}, source=where)
    findings = []
    if days < want:
        findings.append(Finding("RDS backup retention (days)", days, f">= {want}", where))
    lag = (NOW - aware(latest)).total_seconds() if latest else None
    if lag is None or lag > 300:
        findings.append(Finding("latest restorable time", f"{lag:.0f} s ago" if lag is not None else "none",
                                "within 300 s (continuous backup)", where))
    fail_check(findings=findings)


@check("8.1.2")
def test_clickhouse_exports(aws, evidence):
    obj, where = newest(aws, "export_prefix")
    evidence.record("newest_export", obj and {"key": obj["Key"], "last_modified": str(obj["LastModified"]),
                                              "size": obj.get("Size")}, source=where)
    fail_check(findings=_fresh(obj, "ClickHouse export", where))
