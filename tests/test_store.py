"""The record store (``--apex-store``): a local directory, and S3 through boto3 against moto."""

from __future__ import annotations

import json

import pytest

from pytest_apexready import store as st

CHECKS = """
from pytest_apexready import check

@check("2.1.1")
def test_migrations():
    pass
"""


def _record(started: str, revision: int = 1, digest: str = "ab" * 32, env: str = "staging") -> dict:
    return {"schema": "apexready.checklist/v1", "environment": {"name": env},
            "run": {"started": started, "finished": started},
            "revision": {"number": revision, "id": f"sha256:{digest}", "previous": None},
            "summary": {"outcomes": {"passed": 1}, "sections_ready": []}, "sections": []}


def _write(outdir, record, archive: bool = False) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "checklist.json").write_text(json.dumps(record, indent=2) + "\n")
    if archive:
        (outdir / "checklist.signed.json").write_text(json.dumps({"schema": "apexready.signed-checklist/v1",
                                                                  "record": record}))


def test_run_ids_sort_by_start_time():
    assert st.run_id(_record("2026-05-01T12:00:00+00:00")) == "20260501T120000Z-r1-abababab"
    assert st.run_id(_record("2026-05-01T14:00:00+02:00", 3)) == "20260501T120000Z-r3-abababab"


def _exercise(store: st.Store, tmp_path) -> None:
    new, old = tmp_path / "new", tmp_path / "old"
    _write(new, _record("2026-05-02T08:00:00+00:00", digest="cd" * 32), archive=True)
    _write(old, _record("2026-05-01T08:00:00+00:00"))
    stored = st.store_run(store, json.loads((new / "checklist.json").read_text()), new)
    assert stored.files == ("checklist.json", "checklist.signed.json")
    assert stored.where.endswith("/staging/20260502T080000Z-r1-cdcdcdcd/")
    # an older run stored later does not move latest back
    st.store_run(store, json.loads((old / "checklist.json").read_text()), old)
    assert st.latest(store, "staging") == "20260502T080000Z-r1-cdcdcdcd"
    assert st.runs(store, "staging") == ["20260501T080000Z-r1-abababab", "20260502T080000Z-r1-cdcdcdcd"]
    # byte for byte: a signature over the record stays verifiable from the store
    assert store.get("staging/20260502T080000Z-r1-cdcdcdcd/checklist.json") == (new / "checklist.json").read_bytes()
    assert st.load_run(store, "staging", "20260502T080000Z-r1-cdcdcdcd")["run"]["started"].startswith("2026-05-02")
    assert [rid for rid, _ in st.iter_records(store, "staging")] == st.runs(store, "staging")
    assert st.runs(store, "production") == [] and st.latest(store, "production") is None


def test_local_directory_store(tmp_path):
    store = st.open_store("records", tmp_path)
    assert isinstance(store, st.LocalStore) and store.url == str(tmp_path / "records")
    _exercise(store, tmp_path)
    assert (tmp_path / "records" / "staging" / "latest").read_text() == "20260502T080000Z-r1-cdcdcdcd\n"


def test_s3_store_against_moto(tmp_path, monkeypatch):
    moto = pytest.importorskip("moto")  # a dev extra; scripts/test.sh installs it
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        import boto3

        boto3.client("s3").create_bucket(Bucket="apex-records",
                                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        store = st.open_store("s3://apex-records/checklists/")
        assert isinstance(store, st.S3Store) and store.url == "s3://apex-records/checklists"
        _exercise(store, tmp_path)
        keys = sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="apex-records")["Contents"])
        assert "checklists/staging/latest" in keys
        assert "checklists/staging/20260502T080000Z-r1-cdcdcdcd/checklist.signed.json" in keys
        missing = st.open_store("s3://no-such-bucket/x")
        with pytest.raises(st.StoreError, match=r"store s3://no-such-bucket/x: cannot write x/staging/.*NoSuchBucket"):
            st.store_run(missing, _record("2026-05-01T08:00:00+00:00"), tmp_path / "old")


def test_bad_store_specs_are_clear():
    with pytest.raises(st.StoreError, match="unknown scheme"):
        st.open_store("gs://bucket/x")
    with pytest.raises(st.StoreError, match="no bucket"):
        st.open_store("s3:///x")


def test_a_run_is_stored_with_apex_store(project):
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest("-m", "database", "--apex-store", "store", "-p", "no:cacheprovider")
    (run,) = [p for p in (project.path / "store" / "local").iterdir() if p.is_dir()]
    assert (run / "checklist.json").read_bytes() == (project.path / "reports" / "checklist.json").read_bytes()
    assert (project.path / "store" / "local" / "latest").read_text().strip() == run.name
    result.stdout.fnmatch_lines([f"apexready store: checklist.json kept in *store/local/{run.name}/"])
