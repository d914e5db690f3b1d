"""pytest-apexready: the ApexMediation pre-deployment checklist, executable.

Checks attach to catalog items with :func:`check` and report what they found with
:func:`fail_check`; the plugin (:mod:`pytest_apexready.plugin`, loaded by pytest through the
``pytest11`` entry point) renders the results as the signed-off checklist. Importing this package
does not import the plugin.
"""

from ._check import check
from ._version import __version__
from .catalog import Item, Part, load_catalog
from .outcomes import CheckFailed, Finding, NotApplicable, Outcome, TargetUnavailable, fail_check, not_applicable

__all__ = [
    "CheckFailed", "Finding", "Item", "NotApplicable", "Outcome", "Part", "TargetUnavailable", "__version__", "check",
    "fail_check", "load_catalog", "not_applicable",
]
