"""pytest-apexready: the ApexMediation pre-deployment checklist, executable.

Checks attach to catalog items with :func:`check`; the plugin renders the
results as the signed-off checklist.
"""

from .catalog import Item, load_catalog
from .outcomes import NotApplicable, TargetUnavailable, fail_check, not_applicable
from .plugin import check

__all__ = ["check", "fail_check", "not_applicable", "NotApplicable", "TargetUnavailable", "Item", "load_catalog",
           "__version__"]

__version__ = "0.1.0"
