"""pytest side of the sign-off: revisions, ``--apex-rerun`` (rerun and merge) and signing at the end of a run.

Registered by :mod:`pytest_apexready.plugin` as ``apexready-signoff``; the options are added to
the ``apexready`` group through :func:`add_options`. See ``docs/signing.md``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from . import signing

__all__ = ["add_options", "SignoffPlugin"]


def add_options(group: Any) -> None:
    group.addoption("--apex-rerun", dest="apex_rerun", default=None, metavar="DIR",
                    help="rerun only the items that were failed, error or awaiting in the record in DIR and "
                         "write a new revision that merges the results (into DIR unless --apex-report is given)")
    group.addoption("--apex-sign-key", dest="apex_sign_key", default=None, metavar="PATH",
                    help="sign the ready sections at the end of the run with this ed25519 key: a PEM file, "
                         "or env:VAR for a PEM held in an environment variable")
    group.addoption("--apex-signer", dest="apex_signer", action="append", default=[], metavar="ROLE=NAME",
                    help="sign the sections of ROLE as NAME with --apex-sign-key (repeatable)")
    group.addoption("--apex-sign-passphrase-env", dest="apex_sign_passphrase_env", default=None, metavar="VAR",
                    help="the environment variable holding the signing key's passphrase")


def _explicit(config: pytest.Config, option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in map(str, config.invocation_params.args))


class SignoffPlugin:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        self.prev: dict[str, Any] | None = None
        self.prev_dir: Path | None = None
        self.prev_text = ""
        self.selected: set[str] = set()
        self.lines: list[tuple[str, dict[str, bool]]] = []
        self.key = None
        self.signers: list[tuple[str, str]] = []
        opt = config.option
        if getattr(opt, "apex_rerun", None):
            self._load_rerun(Path(opt.apex_rerun))
        if getattr(opt, "apex_signer", None) or getattr(opt, "apex_sign_key", None):
            self._load_signing()

    # -- configuration ------------------------------------------------------------------------
    def _load_rerun(self, path: Path) -> None:
        base = self.config.invocation_params.dir
        path = path if path.is_absolute() else base / path
        try:
            self.prev, self.prev_dir, self.prev_text = signing.load_record(path)
            signing.ensure_revision(self.prev)
            signing.check_integrity(self.prev)
        except (signing.SigningError, KeyError, TypeError) as exc:
            raise pytest.UsageError(f"apexready: --apex-rerun {path}: {exc}") from None
        self.selected = set(signing.rerun_ids(self.prev))
        opt = self.config.option
        if not _explicit(self.config, "--apex-report"):
            opt.apex_report = str(self.prev_dir)
        if opt.apex_env is None:
            opt.apex_env = self.prev["environment"]["name"]

    def _load_signing(self) -> None:
        opt = self.config.option
        if not opt.apex_sign_key or not opt.apex_signer:
            raise pytest.UsageError("apexready: signing at the end of the run needs both --apex-sign-key and "
                                    "--apex-signer \"Role=Name\"")
        for spec in opt.apex_signer:
            role, sep, name = spec.partition("=")
            if not sep or not role.strip() or not name.strip():
                raise pytest.UsageError(f"apexready: --apex-signer {spec!r}: write it as \"Role=Name\", "
                                        "e.g. \"Database Admin=Dana Lee\"")
            self.signers.append((role.strip(), name.strip()))
        if self.is_worker:
            return
        passphrase = None
        if opt.apex_sign_passphrase_env:
            value = os.environ.get(opt.apex_sign_passphrase_env)
            if not value:
                raise pytest.UsageError(f"apexready: environment variable {opt.apex_sign_passphrase_env} "
                                        "(signing key passphrase) is not set or empty")
            passphrase = value.encode("utf-8")
        try:
            self.key = signing.load_private_key(opt.apex_sign_key, passphrase)
        except signing.SigningError as exc:
            raise pytest.UsageError(f"apexready: --apex-sign-key: {exc}") from None

    # -- collection ----------------------------------------------------------------------------
    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        out = []
        if self.prev is not None:
            ids = sorted(self.selected, key=lambda i: tuple(int(p) for p in i.split(".")))
            out.append(f"apexready rerun of {self.prev_dir} (revision {self.prev['revision']['number']}): "
                       f"{len(ids)} item(s): {', '.join(ids) if ids else 'none'}")
        if self.signers:
            out.append("apexready will sign at the end as: " + "; ".join(f"{n} ({r})" for r, n in self.signers))
        return out

    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if self.prev is None:
            return
        from .plugin import ITEM_KEY, SESSION_KEY

        apex = config.stash.get(SESSION_KEY, None)
        if apex is not None and apex.profile is not None and apex.profile.name != self.prev["environment"]["name"]:
            raise pytest.UsageError(f"apexready: --apex-rerun: the record is for environment "
                                    f"{self.prev['environment']['name']!r}, this run is for {apex.profile.name!r}")
        keep, drop = [], []
        for item in items:
            entry = item.stash.get(ITEM_KEY, None)
            (keep if entry is not None and entry.id in self.selected else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    # -- the record -------------------------------------------------------------------------------
    def pytest_apexready_record(self, record: dict[str, Any], config: pytest.Config) -> None:
        if self.is_worker:
            return
        normal = json.loads(json.dumps(record))  # what checklist.json will hold, exactly
        record.clear()
        record.update(normal)
        if self.prev is None:
            signing.first_revision(record)
            signing.refresh_approvals(record)
            return
        result = signing.merge_rerun(record, self.prev, self.selected)
        outdir = Path(config.stash[_session_key()].report_dir)
        self._keep_revisions(outdir)
        changed_signed = [n for n in result["changed"]
                          if any(s.get("status") == "invalidated" and s.get("invalidated_in") == record["revision"]["number"]
                                 for s in next(x for x in record["sections"] if x["number"] == n)["signatures"])]
        self.lines.append((f"apexready rerun: revision {record['revision']['number']} merged into revision "
                           f"{self.prev['revision']['number']} of {self.prev_dir}; sections changed: "
                           f"{', '.join(map(str, result['changed'])) or 'none'}", {}))
        if changed_signed:
            self.lines.append((f"apexready rerun: signatures invalidated (results changed) in section "
                               f"{', '.join(map(str, changed_signed))}: sign them again", {"yellow": True}))
        if result["kept"]:
            self.lines.append((f"apexready rerun: signatures kept in section {', '.join(map(str, result['kept']))}",
                               {}))

    def _keep_revisions(self, outdir: Path) -> None:
        """Keep the superseded revision (and its history) in OUTDIR/revisions/ for the audit trail."""
        assert self.prev is not None and self.prev_dir is not None
        folder = outdir / signing.REVISIONS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        src = self.prev_dir / signing.REVISIONS_DIR
        if src.is_dir() and src.resolve() != folder.resolve():
            for p in src.glob("r*.json"):
                shutil.copy2(p, folder / p.name)
        (folder / f"r{self.prev['revision']['number']}.json").write_text(
            self.prev_text if "revision" in json.loads(self.prev_text) else signing.record_text(self.prev), "utf-8")

    def pytest_apexready_written(self, record: dict[str, Any], outdir: Path, config: pytest.Config) -> None:
        if self.is_worker:
            return
        archive_keys: dict[str, str] = {}
        if self.key is not None and self.signers:
            for role, name in self.signers:
                try:
                    result = signing.sign_role(record, role, name, self.key)
                except signing.SigningError as exc:
                    self.lines.append((f"apexready sign-off as {role}: {exc}", {"red": True}))
                    continue
                for sec in result.signed:
                    self.lines.append((f"apexready sign-off: section {sec['number']} ({sec['title']}) signed by "
                                       f"{name} ({role}), key {signing.fingerprint(self.key.public_key())}",
                                       {"green": True}))
                for sec, blocking in result.refused:
                    self.lines.append((f"apexready sign-off: section {sec['number']} ({sec['title']}) NOT signed "
                                       f"as {role}: not ready, blocked by {', '.join(blocking)}", {"red": True}))
            archive_keys = signing.public_keys_for_archive(self.key)
        if any(s.get("signatures") for s in record["sections"]) or archive_keys:
            paths = signing.write_signed(record, outdir, archive_keys)
            session = config.stash[_session_key()]
            session.report_paths = [p for p in paths if p.name != signing.ARCHIVE_NAME] + \
                [p for p in paths if p.name == signing.ARCHIVE_NAME]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line, markup in self.lines:
            terminalreporter.write_line(line, **markup)


def _session_key():
    from .plugin import SESSION_KEY

    return SESSION_KEY
