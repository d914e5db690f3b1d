"""``@check(item_id, part=None)``: attach a test to the checklist item (or the part of it) it proves.

Deliberately light: no pytest API at all. The decorator writes the claim on the test function;
the plugin reads it at collection and adds the ``apex_item`` marker itself. So the decorator works,
and warns nothing, under ``-p no:apexready`` and ``--strict-markers`` too, and importing it does not
import the plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["CLAIM_ATTR", "Claim", "check", "claims_of"]

#: the attribute a claimed test function (or class) carries: a tuple of :class:`Claim`
CLAIM_ATTR = "__apex_claims__"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Claim:
    """A test's claim: it proves checklist item ``item`` (only its part ``part`` when given)."""

    item: str
    part: str | None = None

    def __str__(self) -> str:
        return self.item if self.part is None else f"{self.item} part {self.part}"


def check(item_id: str, part: str | None = None) -> Callable[[T], T]:
    """Attach a test to the checklist item it proves: ``@check("2.1.1")``.

    An item proven on several target kinds is claimed once per part: ``@check("1.1.2", part="aws")``;
    the item's outcome is the worst of its parts.
    """
    if not isinstance(item_id, str) or not item_id.strip():
        raise TypeError(f"check(item_id): an item id such as \"2.1.1\", got {item_id!r}")
    if part is not None and (not isinstance(part, str) or not part.strip()):
        raise TypeError(f"check({item_id!r}, part=...): a part name such as \"aws\", got {part!r}")
    claim = Claim(item_id.strip(), part.strip() if part is not None else None)

    def attach(obj: T) -> T:
        setattr(obj, CLAIM_ATTR, (*getattr(obj, CLAIM_ATTR, ()), claim))
        return obj

    return attach


def claims_of(obj: object) -> tuple[Claim, ...]:
    """The claims written on a test function or class by :func:`check` (empty when none)."""
    found = getattr(obj, CLAIM_ATTR, ())
    return tuple(c for c in found if isinstance(c, Claim)) if isinstance(found, tuple) else ()
