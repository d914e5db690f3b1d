"""Which checks a run collects, where each comes from, and one line when there are none.

The wheel carries the check suites of this repository (``tests_infra/`` ... ``tests_golive/``) as
``pytest_apexready/checks/<suite>/`` (pyproject's ``package-dir``). When the invocation names no
test paths, those packaged suites are collected beside the project's own directories (its
``testpaths``, else the current directory), so ``pytest --env production`` in a team's repository
runs the whole checklist. In this repository's checkout the local suites are used instead.

A packaged module is imported under its package name (``pytest_apexready.checks.tests_db.test_redis``),
not by file name as pytest does for a directory without ``__init__.py``: a team's own
``test_redis.py`` then does not collide with it. Its node id reads ``packaged:tests_db/test_redis.py``,
so ``pytest --co -q`` says where each check comes from, and such an id may be passed back to pytest.

Also here, moved out of the repository's root conftest so that installed suites get it too: a check
that takes ``workload`` runs once per backend Deployment the profile names, one that takes
``cronjob`` once per CronJob.
"""

from __future__ import annotations

import importlib
import importlib.util
import shlex
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ._collect import CatalogItem
from ._keys import ITEM_KEY, SESSION_KEY
from ._version import __version__

__all__ = ["DEFAULTS", "PACKAGE", "PREFIX", "SUITES", "PackagedModule", "packaged_suites"]

#: the check suites of this repository, packaged in the wheel under PACKAGE
SUITES = ("tests_infra", "tests_db", "tests_app", "tests_security", "tests_golive")
PACKAGE = "pytest_apexready.checks"
#: node ids of packaged checks start with this (``packaged:tests_db/test_redis.py::test_x``)
PREFIX = "packaged:"
#: workload parametrization when the profile's [targets.kubernetes] does not name them
DEFAULTS = {
    "backend": ["backend"],
    "cronjobs": ["sales-automation", "growth-engine", "self-evolving-system"],
}

_STATE = pytest.StashKey[dict[str, Any]]()


def packaged_suites() -> dict[str, Path]:
    """The suites installed with the package: ``{suite: directory}`` (empty in a source checkout)."""
    found: dict[str, Path] = {}
    for suite in SUITES:
        try:
            spec = importlib.util.find_spec(f"{PACKAGE}.{suite}")
        except ImportError:  # the parent namespace is not there at all
            spec = None
        for location in (spec.submodule_search_locations or []) if spec else []:
            # only a copy inside the installed package: an editable install maps these names onto the
            # checkout's own directories, which the checkout (and its self-tests) must not collect twice
            path = Path(location).resolve()
            if path.is_dir() and path.parent.name == "checks" and path.parent.parent.name == "pytest_apexready":
                found[suite] = path
                break
    return found


def _is_checkout(root: Path) -> bool:
    """This repository itself: the plugin's source next to the suites (they are used from there)."""
    return (root / "pytest_apexready" / "catalog.toml").is_file() and (root / SUITES[0]).is_dir()


def _profile_dir(config: pytest.Config) -> Path:
    return config.rootpath / str(config.getini("apex_environments"))


def _translate(arg: str, suites: dict[str, Path]) -> str:
    """``packaged:tests_db/test_x.py::test_y`` (as ``--co`` shows it) -> the installed file's path."""
    if not arg.startswith(PREFIX):
        return arg
    suite, _, rest = arg.removeprefix(PREFIX).partition("/")
    return str(suites[suite] / rest) if suite in suites else arg


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    suites = packaged_suites()
    state: dict[str, Any] = {"suites": suites, "added": [], "no_profile": False, "deselected": 0, "items": 0,
                             "checks": 0}
    config.stash[_STATE] = state
    config.args[:] = [_translate(a, suites) for a in config.args]
    if config.args_source is pytest.Config.ArgsSource.ARGS or _is_checkout(config.rootpath):
        return  # named paths are what the user asked for; the checkout uses its own suites
    if config.option.apex_env is None and not (_profile_dir(config) / "local.toml").is_file():
        state["no_profile"] = True  # nothing to check against: say so at the end instead of running everything
        return
    have = {Path(a).resolve() for a in config.args}
    state["added"] = [p for p in suites.values() if p not in have]
    config.args.extend(str(p) for p in state["added"])


class PackagedModule(pytest.Module):
    """A module of a packaged suite, imported by its package name."""

    def _getobj(self) -> ModuleType:
        suite = self.path.parent.name
        module = importlib.import_module(f"{PACKAGE}.{suite}.{self.path.stem}")
        self.config.pluginmanager.consider_module(module)
        return module


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    suites: dict[str, Path] = parent.config.stash[_STATE]["suites"]
    suite = module_path.parent.name
    if suites.get(suite) != module_path.parent.resolve():
        return None
    node: pytest.Module = PackagedModule.from_parent(parent, path=module_path,
                                                     nodeid=f"{PREFIX}{suite}/{module_path.name}")
    return node


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    explicit: set[str] = set()  # a check that parametrizes these names itself keeps its own values
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        explicit.update(n.strip() for n in (names.split(",") if isinstance(names, str) else names))
    for argname, key in (("workload", "backend"), ("cronjob", "cronjobs")):
        if argname in metafunc.fixturenames and argname not in explicit:
            metafunc.parametrize(argname, _kubernetes_settings(metafunc.config).get(key, DEFAULTS[key]))


def _kubernetes_settings(config: pytest.Config) -> dict[str, Any]:
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return {}
    session.load()
    return (session.profile.target("kubernetes") or {}) if session.profile else {}


# -- saying where the checks come from, or that there are none ------------------------------------------------

def _checks(items: list[pytest.Item]) -> list[pytest.Item]:
    return [i for i in items if ITEM_KEY in i.stash and not isinstance(i, CatalogItem)]


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        state = items[0].config.stash.get(_STATE, None)
        if state is not None:
            state["deselected"] += len(_checks(items))


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash[_STATE]
    state["items"], state["checks"] = len(session.items), len(_checks(session.items))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under xdist the controller collects nothing itself: the first worker's node ids stand in."""
    state = node.config.stash[_STATE]
    first = not state["items"]
    state["items"] = max(state["items"], len(ids))
    line = _origins([i for i in ids if not i.startswith("checklist::")])
    tr = node.config.pluginmanager.get_plugin("terminalreporter")
    if first and line and tr is not None:
        tr.write_line(line)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    return _origins([i.nodeid for i in _checks(items)])


def _origins(nodeids: list[str]) -> str | None:
    """``apexready: checks: N packaged with pytest-apexready V (suites); M from this project (dirs)``."""
    if not nodeids:
        return None
    packaged = [n.removeprefix(PREFIX) for n in nodeids if n.startswith(PREFIX)]
    local = [n for n in nodeids if not n.startswith(PREFIX)]
    parts = []
    if packaged:
        where = sorted({n.split("/", 1)[0] for n in packaged})
        parts.append(f"{len(packaged)} packaged with pytest-apexready {__version__} (node ids '{PREFIX}...': "
                     f"{', '.join(where)})")
    if local:
        parts.append(f"{len(local)} from this project ({', '.join(sorted({_top(n) for n in local}))})")
    return f"apexready: checks: {'; '.join(parts)}"


def _top(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].split("/", 1)[0]


def nothing_line(config: pytest.Config) -> str | None:
    """The one line saying why no check was collected, or None when there is one (or none was expected)."""
    state = config.stash.get(_STATE, None)
    session = config.stash.get(SESSION_KEY, None)
    if state is None or state["checks"] or (session is not None and session.results):
        return None
    env_dir = _profile_dir(config)
    show = _show(env_dir, config)
    known = sorted(p.stem for p in env_dir.glob("*.toml") if ".example" not in p.name) if env_dir.is_dir() else []
    if state["no_profile"]:
        fix = (f"pytest --env {'staging' if 'staging' in known else known[0]}" if known
               else f"apexready init {shlex.quote(str(config.rootpath))}, then pytest --env staging")
        there = f" (profiles there: {', '.join(known)})" if known else ""
        return (f"apexready: nothing checked: no --env given and the default profile {show}/local.toml does not "
                f"exist{there}, so the packaged checks were not collected. Fix: {fix}")
    if config.args_source is pytest.Config.ArgsSource.ARGS and state["items"]:
        return None  # paths named and plain tests found: not a checklist run
    if state["deselected"]:
        how = " ".join(f"{opt} {shlex.quote(val)}" for opt, val in (("-m", config.option.markexpr),
                                                                    ("-k", config.option.keyword)) if val)
        return (f"apexready: no check selected: {how or 'the selection'} matched none of the "
                f"{state['deselected']} checks collected. Fix: pytest --markers lists the sections and components")
    looked = [_show(Path(a.split("::", 1)[0]), config) for a in config.args]
    if not state["suites"]:
        where_pkg = "no packaged suites (this installation of pytest-apexready has none)"
    elif config.args_source is pytest.Config.ArgsSource.ARGS:
        where_pkg = "not the packaged suites (test paths were named)"
    else:
        where_pkg = "the packaged suites"
    return (f"apexready: no check collected: looked for tests marked with @check in {', '.join(looked)} and "
            f"{where_pkg}. Fix: pytest --env NAME with no test paths runs the packaged checklist")


def _show(path: Path, config: pytest.Config) -> str:
    path = path if path.is_absolute() else config.invocation_params.dir / path
    try:
        return str(path.resolve().relative_to(config.invocation_params.dir.resolve())) or "."
    except ValueError:
        return str(path)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if terminalreporter.stats.get("error"):
        return  # a collection error says what went wrong itself
    line = nothing_line(config)
    if line:
        terminalreporter.write_line(line, yellow=True, bold=True)
