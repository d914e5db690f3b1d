"""Fixtures for checks: the profile, expectations, evidence, and one client per target."""

from __future__ import annotations

from typing import Any

import pytest

from .evidence import Evidence
from .profile import Profile
from .targets import BACKENDS, Target


def _session(config: pytest.Config):
    from .plugin import SESSION_KEY

    return config.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def apex_profile(pytestconfig: pytest.Config) -> Profile:
    """The environment profile chosen with ``--env``."""
    session = _session(pytestconfig)
    session.load()
    return session.profile


@pytest.fixture(scope="session")
def expect(apex_profile: Profile) -> dict[str, Any]:
    """The profile's expectations (thresholds), defaults filled in."""
    return apex_profile.expectations


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record what the check observed; it travels on the report and into the checklist."""
    return Evidence(request.node, _session(request.config).redactor)


def _target_fixture(name: str):
    def fixture(pytestconfig: pytest.Config) -> Target:
        return _session(pytestconfig).target(name)

    fixture.__name__ = name
    fixture.__doc__ = f"Read-only client for the profile's [targets.{name}] (lazy, session-scoped)."
    return pytest.fixture(scope="session", name=name)(fixture)


for _name in BACKENDS:
    globals()[f"_fixture_{_name}"] = _target_fixture(_name)
