"""Read-only clients for the systems a checklist inspects.

The kinds are listed once, in :mod:`.registry`; each has one thin client module here (a
:class:`~.base.Target` subclass), imported only when a check asks for that target (so
``-m database`` never imports the Kubernetes client). Each client is created once per session,
connects lazily with a timeout and remembers a failure: after the first timeout every further
call fails at once with the same reason, so an unreachable target costs one timeout, not one
per item. :mod:`.probe` pays those timeouts for all needed targets at once when the run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..outcomes import TargetUnavailable
from .base import DEFAULT_TIMEOUT, Target, missing_library
from .registry import KINDS, UnknownTarget

if TYPE_CHECKING:  # the profile module reads the registry: importing it here would be a cycle
    from ..profile import Profile

__all__ = ["DEFAULT_TIMEOUT", "Target", "UnknownTarget", "open_target"]


def open_target(profile: Profile, name: str) -> Target:
    """The client for the profile's ``[targets.NAME]``, not yet connected.

    Raises :class:`UnknownTarget` for a name that is no target kind, and
    :class:`TargetUnavailable` (the items of this target then error with this one reason) when the
    profile has no such table or the client library cannot be imported.
    """
    kind = KINDS.get(name)
    if kind is None:
        raise UnknownTarget(name)
    settings = profile.target(name)
    if settings is None:
        raise TargetUnavailable(name, "not configured",
                                f"profile {profile.path.name} has no [targets.{name}] table; add it, "
                                f"or declare the component under [absent] {kind.component} = \"why\"")
    try:
        client = kind.load()
    except ImportError as exc:
        raise TargetUnavailable(name, f"[targets.{name}] of {profile.path.name}",
                                missing_library(exc, kind.requires)) from None
    target = client(name, settings)
    target.requires = kind.requires
    return target
