"""Attaching tests to checklist items at collection: claims, parts, and the catalog's own items.

A test claims an item (or one named part of it) with :func:`~pytest_apexready.check`. Every
catalog item, and every part the catalog declares, that no test claims becomes a
:class:`CatalogItem`: an attestation a person vouches for, or a check not yet automated. So a
run always accounts for all of the checklist, and an item proven in parts is never passed while
one of its parts has no check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._check import Claim, claims_of
from ._keys import EVIDENCE_KEY, ITEM_KEY, PART_KEY, SESSION_KEY
from .catalog import Catalog, Item

if TYPE_CHECKING:
    from .plugin import ApexSession

__all__ = [
    "MARK",
    "Attached",
    "AwaitingAttestation",
    "CatalogItem",
    "NotAutomated",
    "attach",
    "catalog_nodes",
    "deselect",
    "mark",
]

#: the marker the plugin puts on every test it attached (``apex_item(item_id, part=None)``)
MARK = "apex_item"


def deselect(config: pytest.Config, items: list[pytest.Item], keep: Callable[[Item | None], bool]) -> None:
    """Keep (in place) the tests whose catalog item ``keep`` accepts; the rest are reported deselected, so that
    pytest's summary and ``-m``-style counts see them (``--apex-rerun``, ``--apex-phase``)."""
    drop = [i for i in items if not keep(i.stash.get(ITEM_KEY, None))]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if keep(i.stash.get(ITEM_KEY, None))]


@dataclass(frozen=True, slots=True)
class Attached:
    test: pytest.Item
    entry: Item
    part: str | None


class NotAutomated(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A catalog item (or part) no check claims yet."""

    __module__ = "builtins"  # terminal lines read "NotAutomated: ...", as pytest's own "Skipped: ..."

    def __init__(self, reason: str):
        super().__init__(f"not yet automated: {reason}", allow_module_level=False)
        self.reason = reason


class AttestedInstead(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A part vouched for by a valid attestation instead of a check (``attest_when_absent`` in the catalog)."""

    def __init__(self, key: str):
        super().__init__(f"attested: {key}", allow_module_level=False)
        self.key = key


class AwaitingAttestation(Exception):
    """An attestation item with no valid attestation; ``hint`` says how to record one."""

    def __init__(self, entry: Item, session: ApexSession, key: str | None = None):
        key = key or entry.id  # "2.1.6[retention]" for an attestation part
        expired = session.records.expired.get(key)
        why = f"the attestation expired on {expired['expires']}" if expired else "no attestation is recorded"
        #: what is missing and how to record it (shown under the item with -v)
        self.hint = (f"{why} in {session.attestations_file}. Record one: [[attestation]] item = \"{key}\", "
                     "attested_by, date, evidence, expires")
        super().__init__(f"awaiting attestation: {key} {entry.label} ({entry.sign_off_role}): {self.hint}")


class CatalogItem(pytest.Item):
    """A checklist item, or a declared part of one, that no check claims: an attestation, or not yet automated."""

    def __init__(self, *, entry: Item, part: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.entry = entry
        self.part = part

    def runtest(self) -> None:
        session = self.config.stash[SESSION_KEY]
        entry = self.entry
        key = entry.id
        declared = entry.part(self.part) if self.part is not None else None
        if declared is not None and declared.attestation:  # a clause a person vouches for
            key = f"{entry.id}[{self.part}]"
        elif entry.kind == "automated":
            if self.part is not None:
                what = f" ({declared.text})" if declared is not None and declared.text else ""
                raise NotAutomated(f"no check claims part {self.part} of item {entry.id}{what}")
            raise NotAutomated(f"no check claims item {entry.id}")
        attestation = session.records.attestations.get(key)
        if attestation is None:
            raise AwaitingAttestation(entry, session, key)
        self.stash.setdefault(EVIDENCE_KEY, []).append(
            {"name": "attestation", "value": attestation.as_dict(), "source": session.attestations_file})

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, AwaitingAttestation):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        part = f" part {self.part}" if self.part else ""
        return self.path, None, f"checklist item {self.entry.id}{part} {self.entry.title}"

    @property
    def location(self) -> tuple[str, int | None, str]:
        # not the node id's tail: pytest would print "9.1.1" as "9::1::1" (it takes dots for module paths)
        return ("checklist", None, f"checklist item {self.name}")


def claims(test: pytest.Item) -> set[Claim]:
    """What a test claims: written by ``check()`` on its function or class, or an ``apex_item`` marker."""
    found = set(claims_of(getattr(test, "function", None))) | set(claims_of(getattr(test, "cls", None)))
    for m in test.iter_markers(MARK):
        item_id = m.args[0] if m.args else m.kwargs.get("item_id")
        found.add(Claim(str(item_id), m.kwargs.get("part")))
    return found


def attach(catalog: Catalog, items: list[pytest.Item]) -> tuple[list[Attached], dict[str, set[str | None]]]:
    """The tests that claim catalog items, and the parts claimed per item (None: the whole item).

    Raises ``pytest.UsageError`` listing every claim that cannot stand: an unknown item or part, an
    attestation item, a test claiming two things, two checks claiming one item or part, an item
    claimed both whole and in parts.
    """
    problems: list[str] = []
    attached: list[Attached] = []
    owners: dict[tuple[str, str | None], set[str]] = {}
    for test in items:
        found = claims(test)
        if not found:
            continue
        if len(found) > 1:
            problems.append(f"{test.nodeid} is attached to {sorted(map(str, found))}; attach a test to exactly one "
                            "item (or one part of one)")
            continue
        claim = found.pop()
        entry = catalog.get(claim.item)
        if entry is None:
            problems.append(f"{test.nodeid} claims checklist item {claim.item!r}, which is not in the catalog "
                            "(pytest_apexready/catalog.toml); use an id such as 2.1.3")
            continue
        if entry.kind == "attestation":
            problems.append(f"{test.nodeid} claims {entry.id} ({entry.title}), an attestation item: a person "
                            "vouches for it in attestations/<env>.toml; make it automated in the catalog first")
            continue
        if claim.part is not None and entry.parts and entry.part(claim.part) is None:
            problems.append(f"{test.nodeid} claims part {claim.part!r} of {entry.id}; the catalog declares its parts "
                            f"as {', '.join(p.name for p in entry.parts)}")
            continue
        if claim.part is not None and (declared := entry.part(claim.part)) is not None and declared.attestation:
            problems.append(f"{test.nodeid} claims part {claim.part!r} of {entry.id}, an attestation part: a person "
                            f"vouches for it (item = \"{entry.id}[{claim.part}]\" in attestations/<env>.toml); "
                            "drop attestation = true in the catalog first")
            continue
        if claim.part is None and entry.parts:
            problems.append(f"{test.nodeid} claims {entry.id} whole, but the catalog declares it in parts "
                            f"({', '.join(p.name for p in entry.parts)}): name one, "
                            f"@check(\"{entry.id}\", part=\"{entry.parts[0].name}\")")
            continue
        owners.setdefault((entry.id, claim.part), set()).add(test.nodeid.split("[", 1)[0])
        attached.append(Attached(test, entry, claim.part))
    for (item_id, part), fns in sorted(owners.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if len(fns) > 1:
            what = f"checklist item {item_id}" if part is None else f"part {part} of checklist item {item_id}"
            problems.append(f"{what} is claimed by more than one check: {', '.join(sorted(fns))}; keep one check "
                            "per item or part (parametrize it instead)")
    parts: dict[str, set[str | None]] = {}
    for item_id, part in owners:
        parts.setdefault(item_id, set()).add(part)
    for item_id, named in sorted(parts.items()):
        if None in named and len(named) > 1:
            problems.append(f"checklist item {item_id} is claimed whole and in parts "
                            f"({', '.join(sorted(p for p in named if p))}): claim every check with a part")
    if problems:
        raise pytest.UsageError("apexready: cannot attach checks to the checklist:\n  " + "\n  ".join(problems))
    return attached, parts


def catalog_nodes(session: pytest.Session, catalog: Catalog,
                  claimed: dict[str, set[str | None]]) -> list[CatalogItem]:
    """A node for every catalog item no check claims, and for every declared part no check claims."""
    nodes: list[CatalogItem] = []
    for entry in catalog.items:
        taken = claimed.get(entry.id, set())
        if entry.parts:
            wanted: list[str | None] = [p.name for p in entry.parts if p.name not in taken]
        else:
            wanted = [] if taken else [None]
        for part in wanted:
            name = entry.id if part is None else f"{entry.id}[{part}]"
            node = CatalogItem.from_parent(session, name=name, nodeid=f"checklist::{name}", entry=entry, part=part)
            nodes.append(node)
    return nodes


def mark(node: pytest.Item, entry: Item, part: str | None) -> None:
    """Markers, stash and JUnit properties of an attached test or a catalog node."""
    node.stash[ITEM_KEY] = entry
    node.stash[PART_KEY] = part
    node.add_marker(pytest.mark.apex_item(entry.id, part=part))
    node.add_marker(entry.marker)
    for comp in entry.components_of(part):
        node.add_marker(comp)
    declared = entry.part(part) if part is not None else None
    if entry.kind == "attestation" or (declared is not None and declared.attestation):
        node.add_marker("attestation")
    if entry.severity == "critical":
        node.add_marker("critical")
    node.user_properties.append(("apex_item", entry.id))
    if part is not None:
        node.user_properties.append(("apex_part", part))
