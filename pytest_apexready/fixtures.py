"""Fixtures for checks: the profile, expectations, evidence, and one client per target kind.

The target fixtures (``postgres``, ``redis``, ``kubernetes``, ...) are made from the registry,
``pytest_apexready/targets/registry.py``: one per :class:`TargetKind`, named by its ``fixture``
and documented by its ``doc``. To find where a fixture comes from, grep the registry for its name;
``pytest --fixtures`` shows what each one reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ._keys import SESSION_KEY
from .evidence import Evidence
from .profile import Profile
from .targets import Target
from .targets.registry import TARGETS, TargetKind

if TYPE_CHECKING:
    from .plugin import ApexSession

__all__ = ["TARGET_FIXTURES", "apex_profile", "evidence", "expect", "fixture_doc"]


def _session(config: pytest.Config) -> ApexSession:
    return config.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def apex_profile(pytestconfig: pytest.Config) -> Profile:
    """The environment profile chosen with ``--env``."""
    session = _session(pytestconfig)
    session.load()
    assert session.profile is not None
    return session.profile


@pytest.fixture(scope="session")
def expect(apex_profile: Profile) -> dict[str, Any]:
    """The profile's expectations (thresholds), defaults filled in."""
    return apex_profile.expectations


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record what the check observed; it travels on the report and into the checklist."""
    return Evidence(request.node, _session(request.config).redactor)


def fixture_doc(kind: TargetKind) -> str:
    """The docstring of a kind's fixture: the registry's ``doc``, then how the client behaves."""
    return (f"{kind.doc}\n\nReads [targets.{kind.name}] of the --env profile. Session-scoped and lazy: one "
            "client for the run, probed once when the run starts; a dead target fails its items at once "
            "with one reason.")


def _target_fixture(kind: TargetKind) -> Any:
    name = kind.name

    def fixture(pytestconfig: pytest.Config) -> Target:
        return _session(pytestconfig).target(name)

    fixture.__name__ = fixture.__qualname__ = kind.fixture
    fixture.__doc__ = fixture_doc(kind)
    return pytest.fixture(scope="session", name=kind.fixture)(fixture)


#: fixture name (the registry's ``fixture``) -> fixture, one per target kind
TARGET_FIXTURES: dict[str, Any] = {kind.fixture: _target_fixture(kind) for kind in TARGETS}
# pytest finds a plugin's fixtures among its module attributes: each under its registry name
globals().update(TARGET_FIXTURES)
