"""Stash keys the plugin's modules share.

They live here, not in :mod:`pytest_apexready.plugin`, so that the fixtures, the sign-off plugin
and the evidence fixture can read the session state without importing the plugin (no cycles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .catalog import Item

if TYPE_CHECKING:
    from .plugin import ApexSession

__all__ = ["EVIDENCE_KEY", "ITEM_KEY", "PART_KEY", "PHASES_KEY", "SESSION_KEY"]

#: the run's :class:`~pytest_apexready.plugin.ApexSession`, on ``config.stash``
SESSION_KEY: pytest.StashKey[ApexSession] = pytest.StashKey()
#: the catalog item a test proves, on ``item.stash``
ITEM_KEY = pytest.StashKey[Item]()
#: the part of that item the test proves (None: the whole item), on ``item.stash``
PART_KEY: pytest.StashKey[str | None] = pytest.StashKey()
#: what the check observed: a list of ``{name, value, source}``, on ``item.stash``
EVIDENCE_KEY = pytest.StashKey[list[dict[str, Any]]]()
#: the outcome value of each phase run so far (``{"setup": "passed", ...}``), on ``item.stash``
PHASES_KEY = pytest.StashKey[dict[str, str]]()
