"""The pytest plugin: options, markers, attaching checks to catalog items, outcomes, the report.

Registered through the ``pytest11`` entry point as ``apexready``; ``-p no:apexready``
turns all of it off.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark.structures import Mark, MarkDecorator

from . import fixtures, outcomes as oc
from .catalog import Catalog, Item, load_catalog
from .evidence import EVIDENCE_KEY
from .profile import Profile, load_profile
from .records import Records, load_records
from .redact import Redactor
from .targets import Target, open_target
from .targets.registry import component_markers

__all__ = ["check", "ApexSession", "SESSION_KEY"]

SESSION_KEY = pytest.StashKey["ApexSession"]()
ITEM_KEY = pytest.StashKey[Item]()
MARK = "apex_item"


def check(item_id: str) -> pytest.MarkDecorator:
    """Attach a test to the checklist item it proves: ``@check("2.1.1")``."""
    # built directly, so that the decorator works (and warns nothing) even under -p no:apexready
    return MarkDecorator(Mark(MARK, (item_id,), {}, _ispytest=True), _ispytest=True)


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
    config.addinivalue_line("markers", f"{MARK}(item_id): the checklist item this test proves (use pytest_apexready.check)")
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


class CatalogItem(pytest.Item):
    """A checklist item that has no check function: an attestation, or not yet automated."""

    def __init__(self, *, entry: Item, **kwargs: Any):
        super().__init__(**kwargs)
        self.entry = entry

    def runtest(self) -> None:
        session = self.config.stash[SESSION_KEY]
        if self.entry.kind == "automated":
            pytest.skip(f"not yet automated: no check claims item {self.entry.id}")
        attestation = session.records.attestations.get(self.entry.id)
        if attestation is None:
            raise AwaitingAttestation(self.entry, session)
        self.stash.setdefault(EVIDENCE_KEY, []).append(
            {"name": "attestation", "value": attestation.as_dict(), "source": session.attestations_file})

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, AwaitingAttestation):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"checklist item {self.entry.id} {self.entry.title}"

    @property
    def location(self) -> tuple[str, int | None, str]:  # type: ignore[override]
        return ("checklist", None, self.name)


class AwaitingAttestation(Exception):
    def __init__(self, entry: Item, session: "ApexSession"):
        expired = session.records.expired.get(entry.id)
        why = f"the attestation expired on {expired['expires']}" if expired else "no attestation is recorded"
        super().__init__(
            f"awaiting attestation: {entry.id} {entry.label} ({entry.sign_off_role}): {why} in "
            f"{session.attestations_file}. Record one: [[attestation]] item = \"{entry.id}\", attested_by, "
            f"date, evidence, expires")


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
        self.started = dt.datetime.now(dt.timezone.utc)
        self.is_worker = hasattr(config, "workerinput")
        self.report_paths: list[Path] = []
        self.record: dict[str, Any] | None = None

    # -- configuration -------------------------------------------------------------------
    @property
    def env_name(self) -> str:
        return self.config.option.apex_env or "local"

    def _dir(self, ini: str) -> Path:
        return self.config.rootpath / self.config.getini(ini)

    @property
    def attestations_file(self) -> str:
        return f"{self.config.getini('apex_attestations')}/{self.profile.name if self.profile else self.env_name}.toml"

    def load(self) -> None:
        if self.profile is not None:
            return
        self.profile = load_profile(self.env_name, self._dir("apex_environments"), self.config.rootpath)
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
        claims: dict[str, set[str]] = {}
        problems: list[str] = []
        checks: list[tuple[pytest.Item, Item]] = []
        for test in items:
            ids = {m.args[0] if m.args else None for m in test.iter_markers(MARK)}
            if not ids:
                continue
            if len(ids) > 1 or None in ids:
                problems.append(f"{test.nodeid} is attached to {sorted(map(str, ids))}; attach a test to exactly one item")
                continue
            item_id = ids.pop()
            entry = self.catalog.get(str(item_id))
            if entry is None:
                problems.append(f"{test.nodeid} claims checklist item {item_id!r}, which is not in the catalog "
                                "(pytest_apexready/catalog.toml); use an id such as 2.1.3")
                continue
            if entry.kind == "attestation":
                problems.append(f"{test.nodeid} claims {entry.id} ({entry.title}), an attestation item: a person "
                                "vouches for it in attestations/<env>.toml; make it automated in the catalog first")
                continue
            claims.setdefault(entry.id, set()).add(test.nodeid.split("[", 1)[0])
            checks.append((test, entry))
        problems += [f"checklist item {i} is claimed by more than one check: {', '.join(sorted(fns))}; "
                     "keep one check per item (parametrize it instead)" for i, fns in sorted(claims.items()) if len(fns) > 1]
        if problems:
            raise pytest.UsageError("apexready: cannot attach checks to the checklist:\n  " + "\n  ".join(problems))
        if not checks:
            return
        self.active = True
        self.load()
        for test, entry in checks:
            test.stash[ITEM_KEY] = entry
            _mark(test, entry)
            test.user_properties.append(("apex_item", entry.id))
        synthetic = []
        for entry in self.catalog.items:
            if entry.id in claims:
                continue
            node = CatalogItem.from_parent(session, name=entry.id, nodeid=f"checklist::{entry.id}", entry=entry)
            node.stash[ITEM_KEY] = entry
            _mark(node, entry)
            node.user_properties.append(("apex_item", entry.id))
            synthetic.append(node)
        items.extend(synthetic)
        # so that "collected N items" counts the catalog's own items too
        session.ihook.pytest_collectreport(report=pytest.CollectReport(
            "checklist", "passed", None, synthetic))

    # -- running -------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        entry = item.stash.get(ITEM_KEY, None)
        if entry is None or self.profile is None or entry.kind != "automated" or isinstance(item, CatalogItem):
            return
        # n/a when every component the item reads is absent; a check that reads several
        # components checks what is present and says what it left out
        absent = [c for c in entry.components if c in self.profile.absent]
        if absent and len(absent) == len(entry.components):
            reasons = "; ".join(f"{c} is absent in profile {self.profile.name}: {self.profile.absent[c]}" for c in absent)
            raise oc.NotApplicable(reasons)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        report = yield
        if not self.active:
            return report
        self._redact_report(report)
        entry = item.stash.get(ITEM_KEY, None)
        if entry is None:
            return report
        outcome, reason = _classify(report, call)
        if outcome == oc.ERROR and call.excinfo is not None and isinstance(call.excinfo.value, oc.TargetUnavailable):
            report.longrepr = self.redactor.text(reason)  # one clear line, not a driver traceback
        waiver = self.records.waivers.get(entry.id)
        waived_from = None
        if outcome in (oc.FAILED, oc.ERROR, oc.AWAITING) and waiver is not None:
            waived_from, outcome = outcome, oc.WAIVED
            report.outcome = "skipped"
            report.wasxfail = f"waived by {waiver.approved_by} until {waiver.expires}: {waiver.justification}"
        report.apex = {
            "item": entry.id,
            "outcome": outcome,
            "reason": self.redactor.text(reason),
            "waived_from": waived_from,
            "evidence": self.redactor.value(item.stash.get(EVIDENCE_KEY, [])),
        }
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

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        apex = getattr(report, "apex", None)
        if apex is None or self.is_worker:
            return
        self.active = True
        result = self.results.setdefault(report.nodeid, {"nodeid": report.nodeid, "item": apex["item"],
                                                         "phases": {}, "evidence": [], "duration": 0.0})
        result["duration"] = round(result["duration"] + report.duration, 6)
        if apex["evidence"]:
            result["evidence"] = apex["evidence"]
        result["phases"][report.when] = {k: apex[k] for k in ("outcome", "reason", "waived_from")}

    # -- finishing -------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker or not self.active or self.config.option.apex_no_report or self.config.option.collectonly:
            return
        from .report import build_record, write_reports

        self.load_quietly()
        record = build_record(self, finished=dt.datetime.now(dt.timezone.utc))
        outdir = self.report_dir
        self.config.hook.pytest_apexready_record(record=record, config=self.config)
        self.record = record
        self.report_paths = write_reports(record, outdir)
        self.config.hook.pytest_apexready_written(record=record, outdir=outdir, config=self.config)
        for target in self.targets.values():
            target.close()

    @property
    def report_dir(self) -> Path:
        outdir = Path(self.config.option.apex_report)
        return outdir if outdir.is_absolute() else self.config.invocation_params.dir / outdir

    def load_quietly(self) -> None:
        try:
            self.load()
        except pytest.UsageError:
            pass

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        record = self.record
        if record is None:
            return
        from .report import terminal_summary

        terminal_summary(record, terminalreporter, self.report_paths)


def _mark(node: pytest.Item, entry: Item) -> None:
    node.add_marker(entry.marker)
    for comp in entry.components:
        node.add_marker(comp)
    if entry.kind == "attestation":
        node.add_marker("attestation")
    if entry.severity == "critical":
        node.add_marker("critical")


def _classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[str | None, str]:
    exc = call.excinfo.value if call.excinfo is not None else None
    if report.when == "setup":
        if report.passed:
            return oc.PASSED, ""
        if report.skipped:
            return _skip_outcome(exc, report)
        return oc.ERROR, _reason(exc, report)
    if report.when == "call":
        if report.passed:
            return (oc.ATTESTED if report.keywords.get("attestation") else oc.PASSED), ""
        if report.skipped:
            return _skip_outcome(exc, report)
        if isinstance(exc, oc.TargetUnavailable):
            return oc.ERROR, str(exc)
        if isinstance(exc, AwaitingAttestation):
            return oc.AWAITING, str(exc)
        return oc.FAILED, _reason(exc, report)
    if report.failed:
        return oc.ERROR, "teardown failed: " + _reason(exc, report)
    return oc.PASSED, ""


def _skip_outcome(exc: BaseException | None, report: pytest.TestReport) -> tuple[str, str]:
    if isinstance(exc, oc.NotApplicable):
        return oc.NOT_APPLICABLE, exc.reason
    msg = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(exc or "")
    msg = msg.split("Skipped: ", 1)[-1]
    if msg.startswith("not yet automated"):
        return oc.NOT_AUTOMATED, msg
    return oc.NOT_APPLICABLE, msg.removeprefix("not applicable: ")


def _reason(exc: BaseException | None, report: pytest.TestReport) -> str:
    if exc is None:
        return str(report.longrepr or "")[-500:]
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, (AssertionError, oc.TargetUnavailable, pytest.fail.Exception)):
        return "\n".join(line for line in text.splitlines() if line.strip())[:2000]
    return f"{type(exc).__name__}: {text}"[:2000]
