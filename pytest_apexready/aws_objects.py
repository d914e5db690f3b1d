"""Reading AWS resources as the checks need them: the one resource the profile names, AWS times.

Plain functions over the ``aws`` target (Describe calls, each made once per run by the client);
a resource the profile names but AWS does not list raises the client's ``not_found`` (could not
check, naming the API call), not a check failure. Several check modules share them, hence here.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the client is only named in annotations; importing it here would load boto3
    from .targets.aws import Aws

__all__ = ["aware", "db_instance", "load_balancer", "replication_group"]


def aware(when: dt.datetime) -> dt.datetime:
    """AWS sends zoned times; a bare one (some moto answers) is UTC."""
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _named(aws: Aws, key: str, what: str, listing: tuple[str, str, str], id_key: str, kind: str,
           action: str) -> dict[str, Any]:
    """The one resource of ``listing`` (service, operation, result key) whose ``id_key`` is the profile's ``key``."""
    name = aws.setting(key, what)
    service, operation, result = listing
    found = [r for r in aws.read(service, operation)[result] if r[id_key] == name]
    if not found:
        raise aws.not_found(kind, name, action)
    return dict(found[0])


def db_instance(aws: Aws) -> dict[str, Any]:
    return _named(aws, "db_instance", "the RDS instance identifier",
                  ("rds", "describe_db_instances", "DBInstances"), "DBInstanceIdentifier",
                  "RDS instance", "rds:DescribeDBInstances")


def load_balancer(aws: Aws) -> dict[str, Any]:
    return _named(aws, "load_balancer", "the ALB/NLB name",
                  ("elbv2", "describe_load_balancers", "LoadBalancers"), "LoadBalancerName",
                  "load balancer", "elasticloadbalancing:DescribeLoadBalancers")


def replication_group(aws: Aws) -> dict[str, Any]:
    return _named(aws, "replication_group", "the ElastiCache replication group id",
                  ("elasticache", "describe_replication_groups", "ReplicationGroups"), "ReplicationGroupId",
                  "ElastiCache replication group", "elasticache:DescribeReplicationGroups")
