"""Continuous runs: go-live phases on a clock, the record store and the metrics file.

Loaded by ``pytest_apexready.plugin`` (its ``pytest_plugins``), so ``-p no:apexready`` turns this off too.
Options: ``--apex-phase``, ``--apex-store``, ``--apex-metrics``. Everything here runs on the controller
only, after the checklist files are written, except the phase gate, which runs where the test runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from . import phases as ph
from . import store as st

__all__ = ["EVIDENCE_KEYS", "ContinuousPlugin", "add_cli"]

#: ``[evidence]`` in a profile: what the checks read besides targets (manifests: 8.1.4; the rest: 10.1.1)
EVIDENCE_KEYS = ("manifests", "staging_store", "staging_env", "trust")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("apexready")
    group.addoption("--apex-phase", dest="apex_phase", default=None, metavar="PHASE",
                    help="run only the items of one go-live phase: " + ", ".join(p.name for p in ph.PHASES))
    group.addoption("--apex-store", dest="apex_store", default=None, metavar="URL",
                    help="keep the record under <env>/<run-id>/ in s3://bucket/prefix or a directory")
    group.addoption("--apex-metrics", dest="apex_metrics", default=None, metavar="FILE",
                    help="write the checklist as Prometheus text exposition (node exporter textfile collector)")
    group.addoption("--apex-compare", dest="apex_compare", default=None, metavar="DIR",
                    help="show in checklist.md/.html what changed since this record (default: the rerun's record, "
                         "else the store's latest run of the environment)")


def pytest_configure(config: pytest.Config) -> None:
    for p in ph.PHASES:
        config.addinivalue_line("markers", f"{p.marker}: go-live phase {p.name} ({p.doc})")
    try:
        chosen = ph.phase(config.option.apex_phase) if config.option.apex_phase else None
    except ValueError as exc:
        raise pytest.UsageError(f"apexready: --apex-phase: {exc}") from None
    config.pluginmanager.register(ContinuousPlugin(config, chosen), "apexready-continuous")


class ContinuousPlugin:
    def __init__(self, config: pytest.Config, chosen: ph.Phase | None):
        self.config = config
        self.chosen = chosen
        self.is_worker = hasattr(config, "workerinput")
        self.lines: list[tuple[str, dict[str, bool]]] = []
        self._stored_runs: list[tuple[dt.datetime, str]] | None = None
        self._store: st.Store | None = None

    def _session(self) -> Any:
        from ._keys import SESSION_KEY

        return self.config.stash.get(SESSION_KEY, None)

    def go_live(self) -> dt.datetime | None:
        session = self._session()
        profile = getattr(session, "profile", None)
        value = getattr(profile, "go_live", None)
        if value is None:
            return None
        try:
            return ph.parse_go_live(value, f"environment profile {profile.path}")  # type: ignore[union-attr]
        except ValueError as exc:
            raise pytest.UsageError(f"apexready: {exc}") from None

    @property
    def store(self) -> st.Store | None:
        if self._store is None and self.config.option.apex_store:
            try:
                self._store = st.open_store(self.config.option.apex_store, self.config.invocation_params.dir)
            except st.StoreError as exc:
                raise pytest.UsageError(f"apexready: --apex-store: {exc}") from None
        return self._store

    # -- selection: phase markers and --apex-phase ------------------------------------------------------------
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        from ._collect import deselect
        from ._keys import ITEM_KEY

        profile = getattr(self._session(), "profile", None)
        if profile is not None:
            self.go_live()  # a malformed go_live stops the run here, before any target is contacted
            unknown = sorted(set(getattr(profile, "evidence", {})) - set(EVIDENCE_KEYS))
            if unknown:
                raise pytest.UsageError(f"apexready: environment profile {profile.path}, key 'evidence.{unknown[0]}': "
                                        f"unknown key. Fix: keys of [evidence] are {', '.join(EVIDENCE_KEYS)}")
        for item in items:
            due = getattr(item.stash.get(ITEM_KEY, None), "due", None)
            if due:
                item.add_marker(ph.phase(due).marker)
        chosen = self.chosen
        if chosen is not None:
            deselect(config, items, lambda entry: getattr(entry, "due", None) == chosen.name)

    # -- the clock -------------------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        from ._keys import ITEM_KEY

        entry = item.stash.get(ITEM_KEY, None)
        due = getattr(entry, "due", None)
        go_live = self.go_live() if due else None
        if entry is None or not due or go_live is None:
            return
        p = ph.phase(due)
        reason = ph.not_yet_due_reason(p, go_live, dt.datetime.now(dt.UTC))
        if reason is not None:
            raise ph.NotYetDue(reason)
        if entry.section == 11 and entry.kind == "attestation" and self.store is not None:
            self._link_runs(item, p, go_live)

    def _link_runs(self, item: pytest.Item, p: ph.Phase, go_live: dt.datetime) -> None:
        """Evidence for a process item: the stored record of the run made when the phase was due."""
        from .evidence import EVIDENCE_KEY

        store, env = self.store, self._session().env_name
        assert store is not None
        if self._stored_runs is None:
            self._stored_runs = []
            try:
                for rid in st.runs(store, env):
                    stamp = dt.datetime.strptime(rid[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
                    self._stored_runs.append((stamp, rid))
            except st.StoreError as exc:
                self.lines.append((f"apexready store: {exc}", {"red": True}))
        window = p.repeat or dt.timedelta(hours=1)  # a phase's CronJob starts at its time; allow a late start
        for when in ph.occurrences(p, go_live):
            found = next((r for t, r in self._stored_runs if when <= t < when + window), None)
            if found is not None:
                item.stash.setdefault(EVIDENCE_KEY, []).append({
                    "name": f"run at {p.name} ({when.astimezone(dt.UTC).isoformat(timespec='minutes')})",
                    "value": f"{store.url.rstrip('/')}/{env}/{found}/{st.RECORD_NAME}",
                    "source": f"record store {store.url}"})

    # -- after the files are written: metrics and the store ----------------------------------------------------
    @pytest.hookimpl(trylast=True)  # after the sign-off plugin wrote the signed archive
    def pytest_apexready_written(self, slot: Any, outdir: Path, config: pytest.Config) -> None:
        if self.is_worker:
            return
        record: dict[str, Any] = slot.record.to_json()  # the JSON layout: what metrics and the store read
        self._since_previous(slot, record, outdir)
        if config.option.apex_metrics:
            from .metrics import write_metrics

            path = Path(config.option.apex_metrics)
            path = path if path.is_absolute() else config.invocation_params.dir / path
            self.lines.append((f"apexready metrics written: {write_metrics(record, path)}", {}))
        if self.store is not None:
            try:
                stored = st.store_run(self.store, record, outdir)
            except st.StoreError as exc:
                self.lines.append((f"apexready store: NOT stored: {exc}", {"red": True}))
            else:
                self.lines.append((f"apexready store: {', '.join(stored.files)} kept in {stored.where}", {}))

    def _previous(self, env: str) -> dict[str, Any] | None:
        """The record to compare with: --apex-compare, else the rerun's, else the store's latest of this env."""
        from .history import load_any

        if self.config.option.apex_compare:
            path = Path(self.config.option.apex_compare)
            return load_any(path if path.is_absolute() else self.config.invocation_params.dir / path)
        prev = getattr(self.config.pluginmanager.get_plugin("apexready-signoff"), "prev", None)
        if prev is not None:
            return dict(prev.to_json()) if hasattr(prev, "to_json") else dict(prev)
        if self.store is not None and (rid := st.latest(self.store, env)) is not None:
            return st.load_run(self.store, env, rid)
        return None

    def _since_previous(self, slot: Any, record: dict[str, Any], outdir: Path) -> None:
        """Re-render checklist.md and .html with what changed since the previous run (the JSON is untouched)."""
        from .history import since_previous
        from .html import render_html
        from .report import render_markdown

        try:
            previous = self._previous(record["environment"]["name"])
        except (OSError, ValueError) as exc:
            self.lines.append((f"apexready: no comparison with the previous run: {exc}", {"yellow": True}))
            return
        if previous is None:
            return
        since, title = since_previous(previous, record)
        for name, text in (("checklist.md", render_markdown(slot.record, since, title)),
                           ("checklist.html", render_html(slot.record, since, title))):
            tmp = outdir / f"{name}.tmp"
            tmp.write_text(text, "utf-8")
            tmp.replace(outdir / name)
        self.lines.append((f"apexready since the previous run: {title}", {}))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line, markup in self.lines:
            terminalreporter.write_line(line, **markup)


def add_cli(sub: Any) -> None:
    """``apexready diff``, ``history`` and ``schedule`` (hooked into cli.build_parser)."""
    from . import history

    history.add_cli(sub)
    ph.add_cli(sub)
