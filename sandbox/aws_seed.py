"""Seed a moto server with an account shaped like ApexMediation's production, and a drifted twin.

The compliant account is moto's default account; the drifted one is another account reached by
assuming a role in it (moto maps the returned credentials to that account), so both carry the same
names and region and differ only in what drifted. ``seed()`` talks to moto over HTTP like any
client; the S3 timestamps it cannot set that way are set in-process by ``sandbox.aws`` afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

COMPLIANT_ACCOUNT = "123456789012"
DRIFTED_ACCOUNT = "222222222222"
DRIFTED_ROLE = f"arn:aws:iam::{DRIFTED_ACCOUNT}:role/apex-checker"
REGION = "us-east-1"
DOMAIN = "apexmediation.example"
PUBLIC_NAMES = [f"{n}.{DOMAIN}" for n in ("api", "console", "status", "cdn")]
OFFICE_CIDR = "203.0.113.0/24"
NAME = "apexmediation-prod"
BUCKET = "apexmediation-backups"
#: S3 bucket names are global: the drifted account's bucket carries a suffix
DRIFTED_BUCKET = f"{BUCKET}-drifted"
EXPORT_PREFIX = "clickhouse/exports/"
BACKUP_PREFIX = "postgres/"
REPOSITORIES = ["apexmediation-backend", "apexmediation-console"]
IMAGE_TAG = "1.4.2"
#: the sandbox cluster's manifests: the tags its workloads run are pushed too (3.1.1, 3.2.1 part "registry")
MANIFESTS = Path(__file__).resolve().parent / "manifests" / "apexmediation.yaml"
SECRETS = {"openai": "apexmediation/openai-api-key", "postgres": "apexmediation/postgres-app-password",
           "clickhouse": "apexmediation/clickhouse-password"}
#: the drifted account's newest ClickHouse export is this old (set in-process: moto stamps S3 with its clock)
DRIFTED_EXPORT_AGE = dt.timedelta(days=3)


@dataclass
class Scale:
    """Extra resources for benchmarks/aws_scale.py (none in the sandbox)."""

    security_groups: int = 0
    target_groups: int = 0
    export_objects: int = 0


@dataclass
class Seeded:
    account: str
    bucket: str = BUCKET
    #: S3 object keys -> the LastModified they must carry (moto's clock stamps them "now")
    backdate: dict[str, dt.datetime] = field(default_factory=dict)


def _clients(endpoint: str, role: str | None) -> Any:
    base = {"endpoint_url": endpoint, "region_name": REGION, "aws_access_key_id": "seeder",
            "aws_secret_access_key": "seeder"}
    creds = base
    if role:
        c = boto3.client("sts", **base).assume_role(RoleArn=role, RoleSessionName="apex-seed")["Credentials"]
        creds = {**base, "aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                 "aws_session_token": c["SessionToken"]}
    return lambda service: boto3.client(service, **creds)


def _tags(name: str, **more: str) -> list[dict[str, Any]]:
    tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in more.items()]
    return [{"ResourceType": "placeholder", "Tags": tags}]


def _spec(kind: str, name: str, **more: str) -> list[dict[str, Any]]:
    spec = _tags(name, **more)
    spec[0]["ResourceType"] = kind
    return spec


def seed(endpoint: str, *, drifted: bool, scale: Scale | None = None) -> Seeded:
    scale = scale or Scale()
    c = _clients(endpoint, DRIFTED_ROLE if drifted else None)
    account = c("sts").get_caller_identity()["Account"]
    out = Seeded(account)
    ec2 = c("ec2")
    net = _network(ec2, drifted)
    sgs = _security_groups(ec2, net["vpc"], drifted, scale)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    app = []
    for i in range(2):
        run = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=net["private"][i % 2],
                                SecurityGroupIds=[sgs["app"]],
                                TagSpecifications=_spec("instance", f"apexmediation-app-{i}"))
        app.append(run["Instances"][0]["InstanceId"])
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=net["public"][0],
                      SecurityGroupIds=[sgs["bastion"]], TagSpecifications=_spec("instance", "apexmediation-bastion"))
    _databases(c, net, sgs, drifted)
    certs = _certificates(c("acm"), drifted)
    alb = _load_balancer(c("elbv2"), ec2, net, sgs, app, certs[0], drifted, scale)
    _edge(c, alb, certs[0], drifted)
    _secrets(c("secretsmanager"), drifted)
    _images(c("ecr"), endpoint, account, drifted)
    out.backdate = _backups(c("s3"), drifted, scale)
    out.bucket = DRIFTED_BUCKET if drifted else BUCKET
    c("eks").create_cluster(name=NAME, version="1.26" if drifted else "1.29",
                            roleArn=f"arn:aws:iam::{account}:role/eks-cluster",
                            resourcesVpcConfig={"subnetIds": net["private"]})
    return out


def _network(ec2: Any, drifted: bool) -> dict[str, Any]:
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=_spec("vpc", NAME))["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public, private = [], []
    for i, az in enumerate(("a", "b")):
        public.append(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{az}",
                                        TagSpecifications=_spec("subnet", f"public-{az}", Tier="public")
                                        )["Subnet"]["SubnetId"])
        private.append(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{10 + i}.0/24", AvailabilityZone=f"{REGION}{az}",
                                         TagSpecifications=_spec("subnet", f"private-{az}", Tier="private")
                                         )["Subnet"]["SubnetId"])
    rt_public = ec2.create_route_table(VpcId=vpc, TagSpecifications=_spec("route-table", "public")
                                       )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rt_public, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    for s in public:
        ec2.associate_route_table(RouteTableId=rt_public, SubnetId=s)
    rt_private = ec2.create_route_table(VpcId=vpc, TagSpecifications=_spec("route-table", "private")
                                        )["RouteTable"]["RouteTableId"]
    if drifted:  # the database subnets routed straight to the internet gateway, and no NAT gateway
        ec2.create_route(RouteTableId=rt_private, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    else:
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=public[0], AllocationId=eip,
                                     TagSpecifications=_spec("natgateway", "apexmediation-nat")
                                     )["NatGateway"]["NatGatewayId"]
        ec2.create_route(RouteTableId=rt_private, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    for s in private:
        ec2.associate_route_table(RouteTableId=rt_private, SubnetId=s)
    return {"vpc": vpc, "public": public, "private": private}


def _sg(ec2: Any, vpc: str, name: str, rules: list[dict[str, Any]]) -> str:
    gid: str = ec2.create_security_group(GroupName=name, Description=f"{name} (ApexMediation)", VpcId=vpc,
                                         TagSpecifications=_spec("security-group", name))["GroupId"]
    if rules:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=rules)
    return gid


def _tcp(port: int, *, cidr: str | None = None, group: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        rule["IpRanges"] = [{"CidrIp": cidr}]
    if group:
        rule["UserIdGroupPairs"] = [{"GroupId": group}]
    return rule


def _security_groups(ec2: Any, vpc: str, drifted: bool, scale: Scale) -> dict[str, str]:
    alb = _sg(ec2, vpc, "apexmediation-alb", [_tcp(443, cidr="0.0.0.0/0"), _tcp(80, cidr="0.0.0.0/0")])
    app = _sg(ec2, vpc, "apexmediation-app", [_tcp(8080, group=alb)])
    db_rules = [_tcp(5432, group=app)] + ([_tcp(5432, cidr="0.0.0.0/0")] if drifted else [])
    db = _sg(ec2, vpc, "apexmediation-db", db_rules)
    redis = _sg(ec2, vpc, "apexmediation-redis", [_tcp(6379, group=app)])
    bastion = _sg(ec2, vpc, "apexmediation-bastion", [_tcp(22, cidr="0.0.0.0/0" if drifted else OFFICE_CIDR)])
    for i in range(scale.security_groups):
        _sg(ec2, vpc, f"apexmediation-svc-{i:04d}", [_tcp(9000 + i % 500, group=app)])
    return {"alb": alb, "app": app, "db": db, "redis": redis, "bastion": bastion}


def _databases(c: Any, net: dict[str, Any], sgs: dict[str, str], drifted: bool) -> None:
    rds = c("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="apexmediation-db", DBSubnetGroupDescription="database subnets",
                               SubnetIds=net["private"])
    rds.create_db_instance(DBInstanceIdentifier=NAME, Engine="postgres", EngineVersion="13.13" if drifted else "15.5",
                           DBInstanceClass="db.r6g.large", AllocatedStorage=200, MultiAZ=not drifted,
                           StorageEncrypted=True, PubliclyAccessible=False,
                           BackupRetentionPeriod=1 if drifted else 30, DBSubnetGroupName="apexmediation-db",
                           VpcSecurityGroupIds=[sgs["db"]], MasterUsername="apex_admin",
                           MasterUserPassword="not-a-real-password-1")
    ec = c("elasticache")
    ec.create_cache_subnet_group(CacheSubnetGroupName="apexmediation-cache", CacheSubnetGroupDescription="cache",
                                 SubnetIds=net["private"])
    version = "6.2" if drifted else "7.1"
    ec.create_replication_group(ReplicationGroupId="apexmediation-redis", ReplicationGroupDescription="ApexMediation",
                                Engine="redis", EngineVersion=version, CacheNodeType="cache.r6g.large",
                                NumCacheClusters=2, AutomaticFailoverEnabled=not drifted, MultiAZEnabled=not drifted,
                                SnapshotRetentionLimit=0 if drifted else 7, CacheSubnetGroupName="apexmediation-cache",
                                SecurityGroupIds=[sgs["redis"]])
    # moto lists no cache clusters for a replication group's members; create the members so that the
    # engine version can be read where AWS keeps it (DescribeCacheClusters)
    for i in (1, 2):
        ec.create_cache_cluster(CacheClusterId=f"apexmediation-redis-00{i}", ReplicationGroupId="apexmediation-redis",
                                Engine="redis", EngineVersion=version, CacheNodeType="cache.r6g.large", NumCacheNodes=1)


def _certificates(acm: Any, drifted: bool) -> list[str]:
    import trustme

    ca = trustme.CA(organization_name="ApexMediation sandbox CA")
    now = dt.datetime.now(dt.UTC)
    arns = []
    # the drifted account's certificate for api/console expires in 5 days (moto refuses expired ones)
    days = 5 if drifted else 90
    for names in ([PUBLIC_NAMES[0], PUBLIC_NAMES[1], PUBLIC_NAMES[3]], [PUBLIC_NAMES[2]]):
        cert = ca.issue_cert(*names, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=days))
        arns.append(acm.import_certificate(Certificate=cert.cert_chain_pems[0].bytes(),
                                           PrivateKey=cert.private_key_pem.bytes(),
                                           CertificateChain=ca.cert_pem.bytes())["CertificateArn"])
    return arns


def _load_balancer(elb: Any, ec2: Any, net: dict[str, Any], sgs: dict[str, str], app: list[str], cert: str,
                   drifted: bool, scale: Scale) -> str:
    lb = elb.create_load_balancer(Name="apexmediation-alb", Subnets=net["public"], SecurityGroups=[sgs["alb"]],
                                  Scheme="internet-facing", Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="apexmediation-api", Protocol="HTTP", Port=8080, VpcId=net["vpc"],
                                 HealthCheckPath="/" if drifted else "/health", Matcher={"HttpCode": "200"},
                                 TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in app])
    if drifted:  # a stopped instance is reported unused/unhealthy
        ec2.stop_instances(InstanceIds=[app[1]])
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}],
                        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    for i in range(scale.target_groups):
        arn = elb.create_target_group(Name=f"apex-svc-{i:04d}", Protocol="HTTP", Port=8080, VpcId=net["vpc"],
                                      HealthCheckPath="/health", Matcher={"HttpCode": "200"},
                                      TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": app[0]}])
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=10000 + i,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    return str(lb)


def _edge(c: Any, alb: str, cert: str, drifted: bool) -> None:
    vis = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "apex"}
    rules: list[dict[str, Any]] = [
        {"Name": "owasp-common", "Priority": 2, "OverrideAction": {"None": {}}, "VisibilityConfig": vis,
         "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"}}}]
    if not drifted:
        rules.insert(0, {"Name": "rate-limit", "Priority": 1, "Action": {"Block": {}}, "VisibilityConfig": vis,
                         "Statement": {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}}})
    waf = c("wafv2")
    acl = waf.create_web_acl(Name="apexmediation-waf", Scope="REGIONAL", DefaultAction={"Allow": {}},
                             VisibilityConfig=vis, Rules=rules)["Summary"]["ARN"]
    if not drifted:
        waf.associate_web_acl(WebACLArn=acl, ResourceArn=alb)
        shield = c("shield")
        shield.create_subscription()
        shield.create_protection(Name="apexmediation-alb", ResourceArn=alb)
    origins = [f"api.{DOMAIN}"] + ([] if drifted else [f"console.{DOMAIN}"])
    c("cloudfront").create_distribution(DistributionConfig={
        "CallerReference": "apexmediation-cdn", "Comment": "apexmediation", "Enabled": True,
        "Aliases": {"Quantity": 1, "Items": [f"cdn.{DOMAIN}"]},
        "Origins": {"Quantity": len(origins), "Items": [
            {"Id": o.split(".")[0], "DomainName": o,
             "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                    "OriginProtocolPolicy": "match-viewer" if drifted else "https-only"}}
            for o in origins]},
        "DefaultCacheBehavior": {"TargetOriginId": "api", "ViewerProtocolPolicy":
                                 "allow-all" if drifted else "redirect-to-https", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
        "ViewerCertificate": {"ACMCertificateArn": cert, "SSLSupportMethod": "sni-only",
                              "MinimumProtocolVersion": "TLSv1" if drifted else "TLSv1.2_2021"}})
    r53 = c("route53")
    zone = r53.create_hosted_zone(Name=f"{DOMAIN}.", CallerReference="apexmediation-zone")["HostedZone"]["Id"]
    ttl = 86400 if drifted else 60
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"{n}.", "Type": "CNAME", "TTL": ttl,
                                                   "ResourceRecords": [{"Value": "apexmediation-alb.elb.example."}]}}
        for n in PUBLIC_NAMES]})


def _secrets(sm: Any, drifted: bool) -> None:
    for key, name in SECRETS.items():
        if drifted and key == "openai":
            continue  # the drifted account keeps the OpenAI key in the cluster, not in Secrets Manager
        sm.create_secret(Name=name, SecretString=f"sandbox-{key}-v1")
        sm.put_secret_value(SecretId=name, SecretString=f"sandbox-{key}-v2")
        if not drifted:
            sm.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)


def _images(ecr: Any, endpoint: str, account: str, drifted: bool) -> None:
    results = []
    for i, repo in enumerate(REPOSITORIES):
        scan_on_push = not (drifted and i == 1)
        ecr.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": scan_on_push})
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"digest": f"sha256:{i:064x}", "size": 1, "mediaType": "x"},
                               "layers": [{"digest": f"sha256:{i + 16:064x}", "size": 1, "mediaType": "x"}]})
        # the drifted account never got the release the cluster runs: only 1.4.2 is there. IMAGE_TAG goes
        # last: moto matches the seeded scan results against an image's last tag
        release = [] if drifted else sorted(running_tags().get(repo, set()) - {IMAGE_TAG})
        for tag in [*release, IMAGE_TAG]:
            ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag=tag)  # one image, two tags
        ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": IMAGE_TAG})
        counts = {"CRITICAL": 2, "HIGH": 5} if drifted else {"MEDIUM": 3, "LOW": 7}
        findings = [{"name": f"CVE-2024-{1000 + n}", "severity": sev, "uri": "https://example.invalid/cve"}
                    for sev, count in counts.items() for n in range(count)]
        results.append({"registryId": account, "repositoryName": repo, "imageId": {"imageTag": IMAGE_TAG},
                        "imageScanStatus": {"status": "COMPLETE", "description": "scan completed"},
                        "imageScanFindings": {"findings": findings, "findingSeverityCounts": counts}})
    body = json.dumps({"account_id": account, "region": REGION, "results": results}).encode()
    req = urllib.request.Request(f"{endpoint}/moto-api/static/ecr/scan-finding-results", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10):
        pass


def fingerprint() -> str:
    """Of what the seed writes (this module and the manifests whose tags it pushes): a running moto seeded
    with another one is reseeded by ``python -m sandbox up``."""
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes() + MANIFESTS.read_bytes()).hexdigest()[:16]


def running_tags(manifests: Path = MANIFESTS) -> dict[str, set[str]]:
    """ECR repository -> the tags the sandbox's Deployments and CronJobs run (read from the manifests)."""
    from pytest_apexready.rules.images import parse_image

    tags: dict[str, set[str]] = {}
    for line in manifests.read_text().splitlines():
        key, _, value = line.strip().lstrip("- ").partition(":")
        if key == "image" and value.strip():
            ref = parse_image(value.strip().strip("'\""))
            if ref.repository in REPOSITORIES and ref.tag:
                tags.setdefault(ref.repository, set()).add(ref.tag)
    return tags


def _backups(s3: Any, drifted: bool, scale: Scale) -> dict[str, dt.datetime]:
    bucket = DRIFTED_BUCKET if drifted else BUCKET
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    now = dt.datetime.now(dt.UTC)
    backdate: dict[str, dt.datetime] = {}
    days = 7 + scale.export_objects
    offset = DRIFTED_EXPORT_AGE if drifted else dt.timedelta(hours=2)
    for d in range(days):
        when = now - offset - dt.timedelta(days=d)
        key = f"{EXPORT_PREFIX}{when:%Y-%m-%d}/{d:05d}-events.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1" + b"\0" * 64)
        backdate[key] = when
    for d in range(7):
        when = now - dt.timedelta(hours=3) - dt.timedelta(days=d)
        key = f"{BACKUP_PREFIX}{when:%Y-%m-%d}/apexmediation.dump"
        s3.put_object(Bucket=bucket, Key=key, Body=b"PGDMP" + b"\0" * 64)
        backdate[key] = when
    return backdate
