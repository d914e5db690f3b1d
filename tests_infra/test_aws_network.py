"""Section 1.2, network: subnets and routes, security groups, NAT, the bastion (AWS and host halves), WAF, Shield.

Every check reads through the ``aws`` fixture (Describe, List and Get calls only, each made once
per run) and fails with the observed value, the expected value and the API call and ARN it read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pytest_apexready import Finding, check, fail_check
from pytest_apexready.aws_objects import aware, db_instance, load_balancer, replication_group
from pytest_apexready.targets.aws import tag

NOW = dt.datetime.now(dt.UTC)


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
