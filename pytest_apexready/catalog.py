"""The checklist as data: frozen catalog entries loaded from ``catalog.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

#: Component markers; a profile may declare any of them absent. Listed once, in the target registry.
from .targets.registry import COMPONENTS

__all__ = ["Item", "Section", "Catalog", "load_catalog", "COMPONENTS"]

Kind = Literal["automated", "attestation"]
Severity = Literal["critical", "warning"]


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

    @property
    def label(self) -> str:
        return f"{self.title}: {self.text}" if self.text else self.title


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {i.id: i for i in self.items})

    def get(self, item_id: str) -> Item | None:
        return self._by_id.get(item_id)  # type: ignore[attr-defined]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id  # type: ignore[attr-defined]

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
        ))
    return Catalog(sections, tuple(items), tuple(raw["approval_roles"]))
