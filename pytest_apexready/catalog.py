"""The checklist as data: frozen catalog entries loaded from ``catalog.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

#: Component markers; a profile may declare any of them absent. Listed once, in the target registry.
from .targets.registry import COMPONENTS

__all__ = ["COMPONENTS", "Catalog", "Item", "Part", "Section", "load_catalog"]

Kind = Literal["automated", "attestation"]
Severity = Literal["critical", "warning"]


@dataclass(frozen=True, slots=True)
class Part:
    """A named part of an item proven on one kind of target (``@check("1.1.2", part="aws")``).

    ``component`` is what the part reads: the catalog entry's ``component``, else the part's name
    when that is a component, else None (the part reads what its item reads).
    """

    name: str
    component: str | None
    text: str
    #: a clause no machine reads: a person vouches for it (``[[attestation]] item = "ID[NAME]"``)
    attestation: bool = False
    #: the clause still applies where the part's component is declared absent (2.1.6's retention on a
    #: self-hosted PostgreSQL): then a person vouches for it as for an attestation part, never n/a
    attest_when_absent: bool = False


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    title: str
    text: str
    section: int
    group: str
    kind: Kind
    severity: Severity
    components: tuple[str, ...]
    details: tuple[str, ...]
    sign_off_role: str
    marker: str
    #: the parts the catalog declares (each needs its own check); empty when the item is one piece
    parts: tuple[Part, ...] = ()
    #: the go-live phase the item is due in (sections 10 and 11: "T-24h", "T+1h", "Hour 6", ...; see phases.py)
    due: str | None = None

    @property
    def label(self) -> str:
        return f"{self.title}: {self.text}" if self.text else self.title

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    def components_of(self, part: str | None) -> tuple[str, ...]:
        """The components a part reads (the whole item's when ``part`` is None or reads no own one)."""
        if part is None:
            return self.components
        declared = self.part(part)
        if declared is not None and declared.component is not None:
            return (declared.component,)
        return (part,) if part in COMPONENTS else self.components


@dataclass(frozen=True, slots=True)
class Section:
    number: int
    title: str
    marker: str
    sign_off_role: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    sections: tuple[Section, ...]
    items: tuple[Item, ...]
    approval_roles: tuple[str, ...]
    _by_id: dict[str, Item] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {i.id: i for i in self.items})

    def get(self, item_id: str) -> Item | None:
        return self._by_id.get(item_id)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def section(self, number: int) -> Section:
        return next(s for s in self.sections if s.number == number)

    def items_of(self, number: int) -> list[Item]:
        return [i for i in self.items if i.section == number]

    @property
    def markers(self) -> dict[str, str]:
        return {s.marker: f"section {s.number}: {s.title} (signed by {s.sign_off_role})" for s in self.sections}


@cache
def load_catalog() -> Catalog:
    raw = tomllib.loads(resources.files(__package__).joinpath("catalog.toml").read_text("utf-8"))
    sections = tuple(
        Section(s["number"], s["title"], s["marker"], s["sign_off_role"], tuple(s["groups"]))
        for s in raw["sections"]
    )
    by_number = {s.number: s for s in sections}
    items = []
    for entry in raw["items"]:
        number, group_no, _ = (int(p) for p in entry["id"].split("."))
        section = by_number[number]
        items.append(Item(
            id=entry["id"],
            title=entry["title"],
            text=entry.get("text", ""),
            section=number,
            group=section.groups[group_no - 1],
            kind=entry["kind"],
            severity=entry["severity"],
            components=tuple(entry.get("components", ())),
            details=tuple(entry.get("details", ())),
            sign_off_role=section.sign_off_role,
            marker=section.marker,
            parts=_parts(entry),
            due=entry.get("due"),
        ))
    return Catalog(sections, tuple(items), tuple(raw["approval_roles"]))


def _parts(entry: dict[str, Any]) -> tuple[Part, ...]:
    """``parts = [{ name = "db", component = "postgres", text = "..." }, ...]`` of one catalog item."""
    where = f"catalog.toml item {entry['id']}"
    raw = entry.get("parts", [])
    if raw and entry["kind"] != "automated":
        raise ValueError(f"{where}: parts are for automated items; {entry['kind']} items are vouched for whole")
    parts: list[Part] = []
    for spec in raw:
        unknown = set(spec) - {"name", "component", "text", "attestation", "attest_when_absent"}
        name, component = spec.get("name"), spec.get("component")
        if unknown or not isinstance(name, str) or not name:
            raise ValueError(f"{where}: a part is {{ name = \"...\", component = \"...\", text = \"...\", "
                             f"attestation = false, attest_when_absent = false }}; got {spec!r}")
        if component is not None and component not in COMPONENTS:
            raise ValueError(f"{where} part {name}: component {component!r} is not one of {', '.join(COMPONENTS)}")
        if any(p.name == name for p in parts):
            raise ValueError(f"{where}: part {name!r} is listed twice")
        parts.append(Part(name, component if component is not None else (name if name in COMPONENTS else None),
                          str(spec.get("text", "")), spec.get("attestation") is True,
                          spec.get("attest_when_absent") is True))
    return tuple(parts)
