"""Backups, the AWS halves: 1.3.5 (backups running), 2.1.6 (RDS retention), 8.1.1 and 8.1.2.

Every check reads through the ``aws`` fixture (Describe, List and Get calls only, each made once
per run) and fails with the observed value, the expected value and the API call and ARN it read.
The other halves (the CronJobs that write the backups and exports) are read by the Kubernetes checks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pytest_apexready import Finding, check, fail_check
from pytest_apexready.aws_objects import aware, db_instance

NOW = dt.datetime.now(dt.UTC)
#: a daily job's newest output may be this old before the day's run is missed
DAILY = dt.timedelta(hours=26)


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
