"""A record store: every run's ``checklist.json`` (and signed archive) kept under ``<env>/<run-id>/``.

``--apex-store DIR`` keeps them in a local directory, ``--apex-store s3://bucket/prefix`` in S3 (boto3;
the endpoint comes from boto3's own settings, e.g. ``AWS_ENDPOINT_URL``). Layout, the same in both::

    <env>/<run-id>/checklist.json           the record, byte for byte as written (signatures stay verifiable)
    <env>/<run-id>/checklist.signed.json    the signed archive, when the run has one
    <env>/latest                            one line: the run id of the newest run

S3 has no symbolic links, so ``latest`` is a small text object in both back ends; it is written after the
run's files, so a reader that follows it never finds a run half stored. Run ids sort by time:
``20260501T120000Z-r1-0123abcd`` (run start in UTC, revision number, the start of the revision id).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "ARCHIVE_NAME",
    "LATEST",
    "RECORD_NAME",
    "LocalStore",
    "S3Store",
    "Store",
    "StoreError",
    "StoredRun",
    "iter_records",
    "latest",
    "load_run",
    "open_store",
    "run_id",
    "runs",
    "store_run",
]

RECORD_NAME = "checklist.json"
ARCHIVE_NAME = "checklist.signed.json"
LATEST = "latest"
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z(-[A-Za-z0-9.-]+)?$")
_ENV = re.compile(r"^[A-Za-z0-9_.-]+$")
#: S3 calls: one connect and read timeout, no silent retries (an unreachable store costs one timeout)
S3_TIMEOUT = 10.0


class StoreError(OSError):
    """The store cannot be used: the message names the store, the object and the fix."""


class Store(Protocol):
    url: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def children(self, prefix: str) -> list[str]: ...


@dataclass(frozen=True)
class StoredRun:
    env: str
    run_id: str
    files: tuple[str, ...]
    where: str


def run_id(record: dict[str, Any]) -> str:
    """A run id that sorts by run start: ``YYYYMMDDTHHMMSSZ-r<revision>-<8 hex of the revision id>``."""
    started = dt.datetime.fromisoformat(record["run"]["started"]).astimezone(dt.UTC)
    rid = started.strftime("%Y%m%dT%H%M%SZ")
    revision = record.get("revision") or {}
    if revision.get("number") is not None:
        rid += f"-r{revision['number']}"
    digest = str(revision.get("id") or "").removeprefix("sha256:")[:8]
    return rid + (f"-{digest}" if digest else "")


def _check_env(env: str) -> str:
    if not _ENV.match(env):
        raise StoreError(f"environment name {env!r} cannot be a store folder; use letters, digits, '.', '_', '-'")
    return env


class LocalStore:
    def __init__(self, root: Path):
        self.root = root
        self.url = str(root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"store {self.url}: cannot read {key}: {exc}") from None

    def children(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


class S3Store:
    def __init__(self, bucket: str, prefix: str, client: Any = None):
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", config=Config(connect_timeout=S3_TIMEOUT, read_timeout=S3_TIMEOUT,
                                                            retries={"max_attempts": 1, "mode": "standard"}))
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str, exc: Exception) -> StoreError:
        return StoreError(f"store {self.url}: cannot {action} {self._key(key)}: {type(exc).__name__}: {exc}. "
                          "Fix: check the bucket exists, the credentials may read/write it, and AWS_ENDPOINT_URL")

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                   ContentType="application/json" if key.endswith(".json") else "text/plain")
        except Exception as exc:  # botocore's errors (no credentials, no bucket, endpoint down) share no base
            raise self._fail("write", key, exc) from None

    def get(self, key: str) -> bytes | None:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(resp["Body"].read())
        except Exception as exc:  # see put()
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail("read", key, exc) from None

    def children(self, prefix: str) -> list[str]:
        base = self._key(prefix).rstrip("/") + "/"
        names: set[str] = set()
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=base, Delimiter="/"):
                names.update(p["Prefix"][len(base):].rstrip("/") for p in page.get("CommonPrefixes", []))
                names.update(o["Key"][len(base):] for o in page.get("Contents", []))
        except Exception as exc:  # see put()
            raise self._fail("list", prefix, exc) from None
        return sorted(names)


def open_store(spec: str, base: Path | None = None, client: Any = None) -> Store:
    """``s3://bucket/prefix`` or a directory (relative to ``base``)."""
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[len("s3://"):].partition("/")
        if not bucket:
            raise StoreError(f"store {spec!r}: no bucket; write s3://BUCKET/PREFIX")
        return S3Store(bucket, prefix, client)
    if "://" in spec:
        raise StoreError(f"store {spec!r}: unknown scheme; use s3://BUCKET/PREFIX or a directory")
    path = Path(spec).expanduser()
    return LocalStore(path if path.is_absolute() or base is None else base / path)


def store_run(store: Store, record: dict[str, Any], outdir: Path) -> StoredRun:
    """Copy the run's record (and signed archive, if any) from ``outdir`` into the store; move ``latest``."""
    env = _check_env(record["environment"]["name"])
    rid = run_id(record)
    files = []
    for name in (RECORD_NAME, ARCHIVE_NAME):
        path = outdir / name
        if path.is_file():
            store.put(f"{env}/{rid}/{name}", path.read_bytes())
            files.append(name)
    if RECORD_NAME not in files:
        raise StoreError(f"store {store.url}: {outdir / RECORD_NAME} was not written; nothing to store")
    current = latest(store, env)
    if current is None or current[:16] <= rid[:16]:  # by start time; a run of the same second wins too
        store.put(f"{env}/{LATEST}", (rid + "\n").encode("ascii"))
    return StoredRun(env, rid, tuple(files), f"{store.url.rstrip('/')}/{env}/{rid}/")


def latest(store: Store, env: str) -> str | None:
    data = store.get(f"{_check_env(env)}/{LATEST}")
    return data.decode("ascii").strip() or None if data else None


def runs(store: Store, env: str) -> list[str]:
    """Run ids of an environment, oldest first."""
    return sorted(n for n in store.children(_check_env(env)) if _RUN_ID.match(n))


def load_run(store: Store, env: str, rid: str) -> dict[str, Any]:
    """The record of a stored run (from its archive when it has one, so signatures come along)."""
    for name in (ARCHIVE_NAME, RECORD_NAME):
        data = store.get(f"{env}/{rid}/{name}")
        if data is not None:
            doc = json.loads(data)
            return dict(doc["record"]) if name == ARCHIVE_NAME else dict(doc)
    raise StoreError(f"store {store.url}: run {env}/{rid} has no {RECORD_NAME}")


def iter_records(store: Store, env: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for rid in runs(store, env):
        yield rid, load_run(store, env, rid)
