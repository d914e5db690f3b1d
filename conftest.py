"""Root conftest: parametrize checks over the workloads the environment profile names.

A check that takes ``workload`` runs once per backend Deployment of ``[targets.kubernetes]
backend`` (default ``["backend"]``); one that takes ``cronjob`` once per ``cronjobs``.
"""

from __future__ import annotations

import pytest

from pytest_apexready._keys import SESSION_KEY

#: defaults when the profile's [targets.kubernetes] does not name them
DEFAULTS = {
    "backend": ["backend"],
    "cronjobs": ["sales-automation", "growth-engine", "self-evolving-system"],
}


def kubernetes_settings(config: pytest.Config) -> dict:
    session = config.stash.get(SESSION_KEY, None)
    if session is None:  # -p no:apexready
        return {}
    session.load()
    return (session.profile.target("kubernetes") or {}) if session.profile else {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for argname, key in (("workload", "backend"), ("cronjob", "cronjobs")):
        if argname in metafunc.fixturenames:
            names = kubernetes_settings(metafunc.config).get(key, DEFAULTS[key])
            metafunc.parametrize(argname, names)
