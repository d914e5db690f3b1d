"""pytest side of the sign-off: revisions, ``--apex-rerun`` (rerun and merge) and signing at the end of a run.

Registered by :mod:`pytest_apexready.plugin` as ``apexready-signoff``; the options are added to
the ``apexready`` group through :func:`add_options`. See ``docs/signing.md``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import signing
from .hooks import RecordSlot
from .record import Record

__all__ = ["SignoffPlugin", "add_options"]


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
        self.prev: Record | None = None
        self.prev_dir: Path | None = None
        self.prev_text = ""
        self.prev_had_revision = True
        self.selected: set[str] = set()
        self.lines: list[tuple[str, dict[str, bool]]] = []
        self.key: Ed25519PrivateKey | None = None
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
            prev, self.prev_dir, self.prev_text = signing.load_record(path)
            self.prev_had_revision = prev.revision is not None
            self.prev = signing.ensure_revision(prev)
            signing.check_integrity(self.prev)
        except signing.SigningError as exc:
            raise pytest.UsageError(f"apexready: --apex-rerun {path}: {exc}") from None
        self.selected = set(signing.rerun_ids(self.prev))
        opt = self.config.option
        if not _explicit(self.config, "--apex-report"):
            opt.apex_report = str(self.prev_dir)
        if opt.apex_env is None:
            opt.apex_env = self.prev.environment.name

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
        if self.prev is not None and self.prev.revision is not None:
            ids = sorted(self.selected, key=lambda i: tuple(int(p) for p in i.split(".")))
            out.append(f"apexready rerun of {self.prev_dir} (revision {self.prev.revision.number}): "
                       f"{len(ids)} item(s): {', '.join(ids) if ids else 'none'}")
        if self.signers:
            out.append("apexready will sign at the end as: " + "; ".join(f"{n} ({r})" for r, n in self.signers))
        return out

    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if self.prev is None:
            return
        from ._collect import deselect
        from ._keys import SESSION_KEY

        apex = config.stash.get(SESSION_KEY, None)
        recorded = self.prev.environment.name
        if apex is not None and apex.profile is not None and apex.profile.name != recorded:
            raise pytest.UsageError(f"apexready: --apex-rerun: the record is for environment "
                                    f"{recorded!r}, this run is for {apex.profile.name!r}")
        deselect(config, items, lambda entry: entry is not None and entry.id in self.selected)

    # -- the record -------------------------------------------------------------------------------
    def pytest_apexready_record(self, slot: RecordSlot, outdir: Path, config: pytest.Config) -> None:
        if self.is_worker:
            return
        if self.prev is None:
            slot.record = signing.first_revision(slot.record)
            return
        merge = signing.merge_rerun(slot.record, self.prev, self.selected)
        record = slot.record = merge.record
        assert record.revision is not None and self.prev.revision is not None
        self._keep_revisions(outdir)
        number = record.revision.number
        changed_signed = [n for n in merge.changed
                          if any(s.status == "invalidated" and s.invalidated_in == number
                                 for s in record.section(n).signatures)]
        self.lines.append((f"apexready rerun: revision {number} merged into revision "
                           f"{self.prev.revision.number} of {self.prev_dir}; sections changed: "
                           f"{', '.join(map(str, merge.changed)) or 'none'}", {}))
        if changed_signed:
            self.lines.append((f"apexready rerun: signatures invalidated (results changed) in section "
                               f"{', '.join(map(str, changed_signed))}: sign them again", {"yellow": True}))
        if merge.kept:
            self.lines.append((f"apexready rerun: signatures kept in section {', '.join(map(str, merge.kept))}", {}))

    def _keep_revisions(self, outdir: Path) -> None:
        """Keep the superseded revision (and its history) in OUTDIR/revisions/ for the audit trail."""
        assert self.prev is not None and self.prev_dir is not None and self.prev.revision is not None
        folder = outdir / signing.REVISIONS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        src = self.prev_dir / signing.REVISIONS_DIR
        if src.is_dir() and src.resolve() != folder.resolve():
            for p in src.glob("r*.json"):
                shutil.copy2(p, folder / p.name)
        # as it was written, byte for byte (a record from before revisions existed gets its revision 1 here)
        text = self.prev_text if self.prev_had_revision else self.prev.text()
        (folder / f"r{self.prev.revision.number}.json").write_text(text, "utf-8")

    def pytest_apexready_written(self, slot: RecordSlot, outdir: Path, config: pytest.Config) -> None:
        if self.is_worker:
            return
        archive_keys: dict[str, str] = {}
        if self.key is not None and self.signers:
            fp = signing.fingerprint(self.key.public_key())
            for role, name in self.signers:
                try:
                    result = signing.sign_role(slot.record, role, name, self.key)
                except signing.SigningError as exc:
                    self.lines.append((f"apexready sign-off as {role}: {exc}", {"red": True}))
                    continue
                slot.record = result.record
                for sec in result.signed:
                    self.lines.append((f"apexready sign-off: {sec.name} signed by {name} ({role}), key {fp}",
                                       {"green": True}))
                for sec, blocking in result.refused:
                    self.lines.append((f"apexready sign-off: {sec.name} NOT signed as {role}: not ready, "
                                       f"blocked by {', '.join(blocking)}", {"red": True}))
            archive_keys = signing.public_keys_for_archive(self.key)
        if any(s.signatures for s in slot.record.sections) or archive_keys:
            slot.paths = signing.write_signed(slot.record, outdir, archive_keys)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line, markup in self.lines:
            terminalreporter.write_line(line, **markup)

