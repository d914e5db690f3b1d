"""10.1.1 read from staging's signed record in the store (tests_golive/test_staging_record.py), both directions.

A pytester project plays staging: every section 3 and 10.2 item passes (its attestation items attested), the
run is signed by a CI key for the Platform Engineering Lead and kept in a local store. Production then runs the
real 10.1.1 check against that store: it passes; it fails on a record that is too old, changed after signing,
signed by an untrusted key, or whose section 3 failed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pytest_apexready.catalog import load_catalog
from pytest_apexready.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
CHECK = (ROOT / "tests_golive" / "test_staging_record.py").read_text()


def _staging_checks() -> str:
    """One passing check per automated section 3 / 10.2 item (per part, where the catalog splits one)."""
    items = [i for i in load_catalog().items if (i.section == 3 or i.id.startswith("10.2.")) and i.kind == "automated"]
    lines = ["import os", "from pytest_apexready import check, fail_check", ""]
    n = 0
    for item in items:
        parts: list[str | None] = [p.name for p in item.parts] or [None]
        for part in parts:
            n += 1
            mark = f'@check("{item.id}", part="{part}")' if part else f'@check("{item.id}")'
            body = ('    if os.environ.get("APEX_BREAK") == "' + item.id + '":\n        fail_check("replicas", '
                    'observed=1, expected=3, where="GET deployment backend")\n') if item.id == "3.1.7" else "    pass\n"
            lines += [mark, f"def test_{n}():", body]
    return "\n".join(lines)


def _stage(project, *, break_item: str | None = None, trusted: bool = True, monkeypatch=None) -> None:
    """Run staging (signed, stored), leaving production's profile and the real 10.1.1 check next to it."""
    path = project.path
    project.write("environments/staging.toml", 'description = "staging"\n')
    attest = [i.id for i in load_catalog().items if i.id.startswith("10.2.") and i.kind == "attestation"]
    project.write("attestations/staging.toml", "".join(
        f'[[attestation]]\nitem = "{i}"\nattested_by = "QA"\ndate = {dt.date.today()}\nevidence = "smoke run"\n'
        f'expires = {dt.date.today() + dt.timedelta(days=30)}\n' for i in attest))
    project.pytester.makepyfile(test_staging_checks=_staging_checks())
    assert cli_main(["keygen", str(path / "keys" / "ci")]) == 0
    assert cli_main(["keygen", str(path / "keys" / "other")]) == 0
    assert cli_main(["trust", str(path / "trusted"), str(path / "keys" / ("ci.pub" if trusted else "other.pub")),
                     "--role", "Platform Engineering Lead"]) == 0
    if break_item:
        monkeypatch.setenv("APEX_BREAK", break_item)
    project.pytester.runpytest("test_staging_checks.py", "--env", "staging", "-m", "app or golive",
                               f"--apex-sign-key={path / 'keys' / 'ci.key'}",
                               "--apex-signer", "Platform Engineering Lead=CI Bot", "--apex-report", "staging-report",
                               "--apex-store", "store", "-p", "no:cacheprovider")
    assert (path / "store" / "staging" / "latest").is_file()
    project.write("environments/production.toml", 'description = "production"\n[evidence]\nstaging_store = "store"\n'
                  'trust = "trusted"\n')
    project.write("test_smoke.py", CHECK)


def _production(project, expectations: str = "") -> dict:
    if expectations:
        text = (project.path / "environments" / "production.toml").read_text()
        project.write("environments/production.toml", text + f"[expectations]\n{expectations}\n")
    project.pytester.runpytest("test_smoke.py", "--env", "production", "--apex-report", "prod",
                               "-p", "no:cacheprovider")
    return project.items("prod")["10.1.1"]


def _stored(project) -> Path:
    rid = (project.path / "store" / "staging" / "latest").read_text().strip()
    return project.path / "store" / "staging" / rid / "checklist.signed.json"


def test_passes_on_a_signed_recent_green_staging_run(project, capsys):
    _stage(project)
    item = _production(project)
    assert item["outcome"] == "passed", item["reason"]
    ev = {e["name"]: e["value"] for e in item["evidence"]}
    assert ev["staging_record"].endswith("checklist.signed.json") and ev["verification"]["valid"]


def test_fails_when_staging_is_older_than_the_window(project):
    _stage(project)
    item = _production(project, "staging_smoke_max_age_hours = 0.00001")
    assert item["outcome"] == "failed"
    assert "age of staging's run: observed finished " in item["reason"]
    assert "expected within 1e-05 hours; read from " in item["reason"]


def test_fails_on_a_record_changed_after_signing(project):
    _stage(project)
    archive = _stored(project)
    doc = json.loads(archive.read_text())
    doc["record"]["run"]["host"] = "somewhere-else"
    archive.write_text(json.dumps(doc, indent=2) + "\n")
    item = _production(project)
    assert item["outcome"] == "failed"
    assert "signatures of staging's record: observed " in item["reason"]
    assert "expected every signature valid for a key trusted in trusted" in item["reason"]


def test_fails_on_a_key_not_in_the_trust_list(project):
    _stage(project, trusted=False)
    item = _production(project)
    assert item["outcome"] == "failed" and "signatures of staging's record" in item["reason"]


def test_fails_when_section_3_failed_on_staging(project, monkeypatch):
    _stage(project, break_item="3.1.7", monkeypatch=monkeypatch)
    item = _production(project)
    assert item["outcome"] == "failed"
    assert ("section 3 (Application Deployment) on staging: observed not passed: 3.1.7 failed; "
            "expected every item passed (ticked)") in item["reason"]


def test_without_a_store_it_cannot_be_checked(project):
    project.write("environments/production.toml", 'description = "production"\n')
    project.write("test_smoke.py", CHECK)
    item = _production(project)
    assert item["outcome"] == "error" and "add [evidence] staging_store" in item["reason"]
