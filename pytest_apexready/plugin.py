"""The pytest plugin: options, markers, attaching checks to catalog items, outcomes, the report.

Registered through the ``pytest11`` entry point as ``apexready``; ``-p no:apexready``
turns all of it off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import _terminal, fixtures
from . import outcomes as oc
from ._check import check
from ._collect import MARK, AttestedInstead, AwaitingAttestation, CatalogItem, attach, catalog_nodes, mark
from ._keys import EVIDENCE_KEY, ITEM_KEY, PART_KEY, PHASES_KEY, SESSION_KEY
from ._phases import classify, instance_outcome
from .catalog import Catalog, Item, load_catalog
from .evidence import NOTE
from .profile import Profile, load_profile
from .records import Records, load_records
from .redact import Redactor
from .targets import Target, open_target
from .targets.registry import component_markers

if TYPE_CHECKING:
    from .record import Record

# check and the stash keys are re-exported for code written against the plugin module
__all__ = ["ITEM_KEY", "PART_KEY", "SESSION_KEY", "ApexSession", "check"]
# go-live phases, the record store, metrics; the packaged suites and workload parametrization (pytest_apexready.suites)
# (options and hooks of their own; -p no:apexready drops them too)
pytest_plugins = ["pytest_apexready.continuous", "pytest_apexready.suites"]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("apexready", "pre-deployment checklist (pytest-apexready)")
    group.addoption("--env", dest="apex_env", default=None, metavar="NAME",
                    help="environment profile: environments/NAME.toml, or a path to a .toml (default: local)")
    group.addoption("--apex-report", dest="apex_report", default="reports", metavar="DIR",
                    help="write checklist.json, checklist.md and checklist.html here (default: reports/)")
    group.addoption("--apex-no-report", dest="apex_no_report", action="store_true",
                    help="do not write the checklist files")
    group.addoption("--apex-probe", dest="apex_probe", action="store_true",
                    help="5.2.1: exhaust the API's rate limit on expectations.rate_limit_probe_path until a 429 "
                         "(bounded); refused on a profile with production = true")
    from . import signoff

    signoff.add_options(group)
    parser.addini("apex_environments", "directory of environment profiles", default="environments")
    parser.addini("apex_waivers", "directory of waiver files (<env>.toml)", default="waivers")
    parser.addini("apex_attestations", "directory of attestation files (<env>.toml)", default="attestations")


def pytest_configure(config: pytest.Config) -> None:
    catalog = load_catalog()
    for marker, doc in catalog.markers.items():
        config.addinivalue_line("markers", f"{marker}: {doc}")
    for comp, doc in component_markers().items():  # from the target registry
        config.addinivalue_line("markers", f"{comp}: {doc}")
    config.addinivalue_line("markers", f"{MARK}(item_id, part=None): the checklist item (or part) this test proves "
                                       "(set by the plugin from pytest_apexready.check)")
    config.addinivalue_line("markers", "attestation: checklist items a person vouches for")
    config.addinivalue_line("markers", "critical: checklist items of critical severity")
    session = ApexSession(config, catalog)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "apexready-session")
    config.pluginmanager.register(fixtures, "apexready-fixtures")
    from .signoff import SignoffPlugin

    config.pluginmanager.register(SignoffPlugin(config), "apexready-signoff")
    if config.option.apex_env is not None:
        session.load()  # an explicit --env is validated before anything runs


class ApexSession:
    """Per-run state: profile, records, results. Files are written by the controller only."""

    def __init__(self, config: pytest.Config, catalog: Catalog):
        self.config = config
        self.catalog = catalog
        self.active = False
        self.profile: Profile | None = None
        self.records = Records({}, {}, [], {})
        self.redactor = Redactor()
        self.targets: dict[str, Target] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.started = dt.datetime.now(dt.UTC)
        self.is_worker = hasattr(config, "workerinput")
        self.report_paths: list[Path] = []
        self.record: Record | None = None

    # -- configuration -------------------------------------------------------------------
    @property
    def env_name(self) -> str:
        return self.config.option.apex_env or "local"

    def _dir(self, ini: str) -> Path:
        return self.config.rootpath / str(self.config.getini(ini))

    @property
    def attestations_file(self) -> str:
        return f"{self.config.getini('apex_attestations')}/{self.profile.name if self.profile else self.env_name}.toml"

    def load(self) -> None:
        if self.profile is not None:
            return
        self.profile = load_profile(self.env_name, self._dir("apex_environments"), self.config.rootpath)
        if self.config.option.apex_probe and self.profile.production:
            raise pytest.UsageError(f"apexready: --apex-probe is refused on environment profile {self.profile.name} "
                                    f"({self.profile.path}), key 'production' = true: the probe exhausts the API's "
                                    "rate limit. Fix: drop --apex-probe, or probe a staging profile")
        for secret in self.profile.secrets():
            self.redactor.add(secret)
        self.records = load_records(self.profile.name, self._dir("apex_waivers"), self._dir("apex_attestations"),
                                    self.catalog, self.config.rootpath)

    def target(self, name: str) -> Target:
        if name not in self.targets:
            self.load()
            assert self.profile is not None
            self.targets[name] = open_target(self.profile, name)
        return self.targets[name]

    # -- collection ----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        attached, claimed = attach(self.catalog, items)
        if not attached:
            return
        self.active = True
        self.load()
        for a in attached:
            mark(a.test, a.entry, a.part)
        synthetic = catalog_nodes(session, self.catalog, claimed)
        for node in synthetic:
            mark(node, node.entry, node.part)
        items.extend(synthetic)
        # so that "collected N items" counts the catalog's own items too
        session.ihook.pytest_collectreport(report=pytest.CollectReport(
            "checklist", "passed", None, list[pytest.Item | pytest.Collector](synthetic)))

    # -- running -------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        if self.active:  # every needed target at once: a dead one costs one timeout, not one per item
            from .targets.probe import probe_session

            probe_session(self, session)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        entry = item.stash.get(ITEM_KEY, None)
        if entry is None or self.profile is None or entry.kind != "automated":
            return
        part = item.stash.get(PART_KEY, None)
        if isinstance(item, CatalogItem) and part is None:
            return  # an item nobody automated stays "not yet automated", whatever the profile lacks
        # n/a when every component the item (or the part) reads is absent; a check that reads several
        # components checks what is present and says what it left out
        comps = entry.components_of(part)
        absent = [c for c in comps if c in self.profile.absent]
        if absent and len(absent) == len(comps):
            name = self.profile.name
            reasons = "; ".join(f"{c} is absent in profile {name}: {self.profile.absent[c]}" for c in absent)
            declared = entry.part(part) if part is not None else None
            if declared is not None and declared.attest_when_absent:
                self._attest_instead(item, entry, declared.name, reasons)
            if part is not None:
                item.stash.setdefault(EVIDENCE_KEY, []).append(
                    {"name": NOTE, "value": f"part {part} left out: {reasons}", "source": ""})
            raise oc.NotApplicable(reasons, key=f"absent.{absent[0]}", show_key=False)  # the reason names it

    def _attest_instead(self, item: pytest.Item, entry: Item, part: str, reasons: str) -> None:
        """A part whose clause still applies without its component: attested, or awaiting attestation."""
        key = f"{entry.id}[{part}]"
        item.stash.setdefault(EVIDENCE_KEY, []).append(
            {"name": NOTE, "value": f"part {part} is not read here ({reasons}); a person vouches for it as {key}",
             "source": ""})
        attestation = self.records.attestations.get(key)
        if attestation is None:
            raise AwaitingAttestation(entry, self, key)
        item.stash[EVIDENCE_KEY].append(
            {"name": "attestation", "value": attestation.as_dict(), "source": self.attestations_file})
        raise AttestedInstead(key)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if not self.active:
            return report
        self._redact_report(report)
        entry = item.stash.get(ITEM_KEY, None)
        if entry is None:
            return report
        phase = classify(report, call)
        outcome, reason = phase.outcome, self.redactor.text(phase.reason)
        if phase.unavailable:
            report.longrepr = reason  # one clear line, not a driver traceback
        if report.skipped and outcome is oc.ERROR:  # a skip nobody declared: pytest shows it as an error too
            report.outcome = "failed"
            report.longrepr = reason
        waiver = self.records.waivers.get(entry.id)
        waived_from = None
        if outcome in (oc.FAILED, oc.ERROR, oc.AWAITING) and waiver is not None:
            waived_from, outcome = outcome, oc.WAIVED
            report.outcome = "skipped"
            report.wasxfail = f"waived by {waiver.approved_by} until {waiver.expires}: {waiver.justification}"
        if report.skipped and isinstance(report.longrepr, tuple) and outcome in (oc.NOT_APPLICABLE, oc.NOT_AUTOMATED):
            # -v shows this after the word: the reason, not the exception's class name
            path, line, _ = report.longrepr
            report.longrepr = (path, line, "Skipped: " + reason.removeprefix("not yet automated: "))
        phases = item.stash.setdefault(PHASES_KEY, {})
        phases[report.when] = outcome.value
        # plain str, list and dict only: under xdist the report travels to the controller serialised
        report.apex = {  # type: ignore[attr-defined]  # our own attribute; pytest and xdist carry it along
            "item": entry.id,
            "part": item.stash.get(PART_KEY, None),
            "outcome": outcome.value,
            "reason": reason,
            "waived_from": waived_from.value if waived_from is not None else None,
            "findings": [{k: self.redactor.text(v) for k, v in f.as_dict().items()} for f in phase.findings],
            "hint": self.redactor.text(phase.hint) if phase.hint and outcome is oc.AWAITING else None,
            "evidence": self.redactor.value(item.stash.get(EVIDENCE_KEY, [])),
        }
        if report.when == "teardown":
            # JUnit reads the teardown report's properties: the instance's outcome, next to apex_item
            report.user_properties = [*report.user_properties, ("apex_outcome", instance_outcome(phases).value)]
        return report

    def _redact_report(self, report: pytest.TestReport) -> None:
        longrepr = report.longrepr
        if longrepr is not None:
            if isinstance(longrepr, tuple):
                path, line, msg = longrepr
                report.longrepr = (path, line, self.redactor.text(msg))
            else:
                text = str(longrepr)
                if self.redactor.needs(text):
                    report.longrepr = self.redactor.text(text)
        report.sections = [(k, self.redactor.text(v)) for k, v in report.sections]

    @pytest.hookimpl(trylast=True)  # after the terminal reporter wrote the test's line
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        apex = getattr(report, "apex", None)
        if apex is None or self.is_worker:
            return
        self.active = True
        result = self.results.setdefault(report.nodeid, {"nodeid": report.nodeid, "item": apex["item"],
                                                         "part": apex.get("part"), "phases": {}, "evidence": [],
                                                         "duration": 0.0})
        result["duration"] = round(result["duration"] + report.duration, 6)
        if apex["evidence"]:
            result["evidence"] = apex["evidence"]
        result["phases"][report.when] = {k: apex.get(k) for k in ("outcome", "reason", "waived_from", "findings")}
        if apex.get("hint") and self.config.get_verbosity() > 0:
            tr = self.config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                _terminal.write_hint(tr, report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport,
                                 config: pytest.Config) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        return _terminal.teststatus(report)

    def blocking(self) -> list[str]:
        """Node ids of the run's tests whose outcome keeps a section from being signed."""
        return [nodeid for nodeid, res in self.results.items()
                if not instance_outcome({w: p["outcome"] for w, p in res["phases"].items()}).ticks]

    # -- finishing -------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.is_worker and session.exitstatus == pytest.ExitCode.OK and self.blocking():
            # nothing failed in pytest's sense, yet an item awaits attestation or is not automated
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.is_worker or not self.active or self.config.option.apex_no_report or self.config.option.collectonly:
            return
        from .report import publish

        self.load_quietly()
        slot = publish(self, dt.datetime.now(dt.UTC), self.report_dir)  # build, hooks, write (and sign)
        self.record, self.report_paths = slot.record, slot.paths
        for target in self.targets.values():
            target.close()

    @property
    def report_dir(self) -> Path:
        outdir = Path(self.config.option.apex_report)
        return outdir if outdir.is_absolute() else self.config.invocation_params.dir / outdir

    def load_quietly(self) -> None:
        with contextlib.suppress(pytest.UsageError):
            self.load()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.active and not self.is_worker and {"s", "x"} & set(terminalreporter.reportchars):
            _terminal.write_categories(terminalreporter, self.catalog, self.config.get_verbosity() > 0,
                                       self.attestations_file)
        record = self.record
        if record is None:
            return
        from .report import terminal_summary

        terminal_summary(record, terminalreporter, self.report_paths)
