"""10.1.1 "Smoke Tests: All critical user flows tested on staging", read from staging's signed record.

The profile names the store staging's runs go to and the trust list (``[evidence] staging_store``,
``staging_env`` (default "staging"), ``trust``). The latest staging run there must verify against the trust
list (every signature, at least one valid), have finished within ``staging_smoke_max_age_hours``, and have
ticked every item of section 3 (the application deployed and healthy) and of group 10.2 (launch: DNS, TLS,
health, first transaction, dashboards). Read only: the store is read, nothing is written to it.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

from pytest_apexready import Finding, check, fail_check, signing
from pytest_apexready import store as st
from pytest_apexready.outcomes import TargetUnavailable


def _unticked(record: dict, keep) -> list[str]:
    return [f"{i['id']} {i['outcome']}" for s in record["sections"] for g in s["groups"] for i in g["items"]
            if keep(i["id"]) and not i["checked"]]


@check("10.1.1")
def test_staging_smoke_run_is_signed_recent_and_green(apex_profile, pytestconfig, expect, evidence):
    settings = apex_profile.evidence
    spec, env, trust_dir = settings.get("staging_store"), settings.get("staging_env", "staging"), settings.get("trust")
    if not spec or not trust_dir:
        raise TargetUnavailable("evidence", str(apex_profile.path),
                                "the profile names no staging store or trust list; add [evidence] staging_store = "
                                "\"s3://bucket/prefix\" (or a directory) and trust = \"trusted/\"")
    root = pytestconfig.rootpath
    try:
        store = st.open_store(spec, root)
        rid = st.latest(store, env)
        where = f"{store.url}/{env}/{st.LATEST}"
        if rid is None:
            fail_check("staging's smoke run", observed=f"no run of {env} in the store",
                       expected="a signed record of staging's run", where=where)
        where = f"{store.url.rstrip('/')}/{env}/{rid}/"
        name = st.ARCHIVE_NAME if store.get(f"{env}/{rid}/{st.ARCHIVE_NAME}") is not None else st.RECORD_NAME
        data = store.get(f"{env}/{rid}/{name}") or b""
    except st.StoreError as exc:
        raise TargetUnavailable("store", spec, str(exc)) from None
    where += name
    evidence.record("staging_record", where, source=f"{store.url}/{env}/{st.LATEST}")
    try:
        trust = signing.load_trust(root / trust_dir)
    except signing.SigningError as exc:
        raise TargetUnavailable("trust list", str(root / trust_dir), str(exc)) from None
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / name
        copy.write_bytes(data)
        verdict = signing.verify_path(copy, trust)
    evidence.record("verification", {"valid": verdict.valid, "problems": verdict.problems}, source=f"{where}, "
                    f"trust list {trust_dir}")
    findings = []
    if not verdict.ok:
        findings.append(Finding("signatures of staging's record",
                                observed="; ".join(verdict.problems) or "no valid signature",
                                expected=f"every signature valid for a key trusted in {trust_dir}", where=where))
    doc = json.loads(data)
    record = doc.get("record", doc)
    if record["environment"]["name"] != env:
        findings.append(Finding("environment of the record", observed=record["environment"]["name"], expected=env,
                                where=where))
    finished = dt.datetime.fromisoformat(record["run"]["finished"])
    age_h = (dt.datetime.now(dt.UTC) - finished).total_seconds() / 3600
    limit = expect["staging_smoke_max_age_hours"]
    evidence.record("finished", record["run"]["finished"], source=where)
    if age_h > limit:
        findings.append(Finding("age of staging's run", observed=f"finished {record['run']['finished']}, "
                                f"{age_h:.1f} hours ago", expected=f"within {limit} hours", where=where))
    for what, keep in (("section 3 (Application Deployment)", lambda i: i.startswith("3.")),
                       ("group 10.2 (Launch)", lambda i: i.startswith("10.2."))):
        bad = _unticked(record, keep)
        if bad:
            findings.append(Finding(f"{what} on staging", observed=f"not passed: {', '.join(bad)}",
                                    expected="every item passed (ticked)", where=where))
    fail_check(findings=findings)
