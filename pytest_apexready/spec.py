"""Parse the checklist document (Markdown) into sections, groups and items.

The parser exists so that a self-test can prove the shipped catalog matches the
document item for item; it is deliberately strict about the shapes the document
uses and ignores everything else (prose, rules, the version footer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Spec", "SpecGroup", "SpecItem", "SpecSection", "parse_checklist"]

#: Sections without a number in the document get these numbers, in order.
UNNUMBERED_SECTIONS = {"Post-Deployment Monitoring Schedule": 11}

_SECTION = re.compile(r"^## (?:(\d+)\. )?(.+?)\s*$")
_GROUP = re.compile(r"^### (.+?)\s*$")
_BOLD_GROUP = re.compile(r"^\*\*(.+?):\*\*\s*$")
_ITEM = re.compile(r"^- \[[ xX]\] (.+?)\s*$")
_BOLD_TITLE = re.compile(r"^\*\*(.+?):\*\*\s*(.*)$")
_SIGN_OFF = re.compile(r"^\*\*Sign-off:\*\*.*\((.+)\)\s*$")
_TABLE_ROW = re.compile(r"^\|(.+)\|\s*$")


@dataclass
class SpecItem:
    id: str
    title: str
    text: str
    details: list[str] = field(default_factory=list)


@dataclass
class SpecGroup:
    number: int
    title: str
    items: list[SpecItem] = field(default_factory=list)


@dataclass
class SpecSection:
    number: int
    title: str
    sign_off_role: str | None = None
    groups: list[SpecGroup] = field(default_factory=list)


@dataclass
class Spec:
    sections: list[SpecSection]
    approval_roles: list[str]

    def items(self) -> list[SpecItem]:
        return [i for s in self.sections for g in s.groups for i in g.items]


def parse_checklist(path: str | Path) -> Spec:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    sections: list[SpecSection] = []
    approval_roles: list[str] = []
    section: SpecSection | None = None
    group: SpecGroup | None = None
    item: SpecItem | None = None
    in_approval = False
    in_code = False

    for raw in lines:
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            if item is not None:
                item.details.append(stripped)
            continue
        if in_code:
            if item is not None:
                item.details.append(stripped)
            continue
        m = _SECTION.match(line)
        if m:
            number, title = m.group(1), m.group(2)
            item = group = None
            in_approval = title == "Approval Signatures"
            if in_approval:
                section = None
                continue
            num = int(number) if number else UNNUMBERED_SECTIONS.get(title)
            if num is None:
                section = None
                continue
            section = SpecSection(num, title)
            sections.append(section)
            continue
        if in_approval:
            row = _TABLE_ROW.match(line)
            if row:
                role = row.group(1).split("|")[0].strip()
                if role and role != "Role" and not set(role) <= set("-: "):
                    approval_roles.append(role)
            continue
        if section is None:
            continue
        m = _SIGN_OFF.match(stripped)
        if m:
            section.sign_off_role = m.group(1).strip()
            item = None
            continue
        m = _GROUP.match(line) or _BOLD_GROUP.match(line)
        if m:
            group = SpecGroup(len(section.groups) + 1, m.group(1).strip())
            section.groups.append(group)
            item = None
            continue
        m = _ITEM.match(line)
        if m and group is not None:
            body = m.group(1)
            bold = _BOLD_TITLE.match(body)
            title, text = (bold.group(1), bold.group(2)) if bold else (body, "")
            item = SpecItem(f"{section.number}.{group.number}.{len(group.items) + 1}", title.strip(), text.strip())
            group.items.append(item)
            continue
        if item is not None and line.startswith("  ") and stripped:
            item.details.append(stripped)
            continue
        if not stripped:
            continue
        item = None
    return Spec(sections, approval_roles)
