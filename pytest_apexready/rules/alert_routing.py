"""Alertmanager's routing tree, evaluated on label sets the way ``amtool config routes test`` does.

A route matches an alert when all its matchers hold (``match``, ``match_re`` and ``matchers``,
regexes anchored). Starting at the root, the alert descends into the first matching child route;
a matching route with ``continue: true`` lets the next siblings match too. The receivers of the
deepest matching routes are where notifications go; the root's receiver catches the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["Matcher", "integrations", "receivers_for"]

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


class Matcher:
    def __init__(self, name: str, op: str, value: str):
        self.name, self.op, self.value = name, op, value
        self._re = re.compile(f"^(?:{value})$") if op in ("=~", "!~") else None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        m = _MATCHER.match(text.strip().strip("{}"))
        if not m:
            raise ValueError(f"not an Alertmanager matcher: {text!r}")
        value = m.group(3)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].encode().decode("unicode_escape")
        return cls(m.group(1), m.group(2), value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        assert self._re is not None
        found = bool(self._re.match(have))
        return found if self.op == "=~" else not found


def _matchers(route: Mapping[str, Any]) -> list[Matcher]:
    out = [Matcher(k, "=", str(v)) for k, v in (route.get("match") or {}).items()]
    out += [Matcher(k, "=~", str(v)) for k, v in (route.get("match_re") or {}).items()]
    for text in route.get("matchers") or []:
        out += [Matcher.parse(part) for part in _split(str(text))]
    return out


def _split(text: str) -> list[str]:
    """``'a="x", b=~"y"'`` (several matchers in one string) -> each one."""
    parts, depth, cur = [], False, ""
    for ch in text.strip().strip("{}"):
        if ch == '"':
            depth = not depth
        if ch == "," and not depth:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p for p in [*parts, cur] if p.strip()]


def _walk(route: Mapping[str, Any], labels: Mapping[str, str], receiver: str) -> list[str]:
    receiver = str(route.get("receiver") or receiver)
    found: list[str] = []
    for child in route.get("routes") or []:
        if all(m.matches(labels) for m in _matchers(child)):
            found += _walk(child, labels, receiver)
            if not child.get("continue", False):
                break
    return found or [receiver]


def receivers_for(config: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """The receivers an alert with ``labels`` is sent to, in tree order (like amtool)."""
    root = config.get("route") or {}
    return list(dict.fromkeys(_walk(root, labels, str(root.get("receiver", "")))))


def integrations(config: Mapping[str, Any], receiver: str) -> list[str]:
    """What a receiver notifies: ``slack:#channel``, ``pagerduty``, ``email:to``, ``webhook``, ``opsgenie``, ..."""
    for rcv in config.get("receivers") or []:
        if rcv.get("name") != receiver:
            continue
        out: list[str] = []
        for key, configs in rcv.items():
            if not key.endswith("_configs"):
                continue
            kind = key.removesuffix("_configs")
            for cfg in configs or []:
                if kind == "slack":
                    out.append(f"slack:{cfg.get('channel', '')}")
                elif kind == "email":
                    out.append(f"email:{cfg.get('to', '')}")
                else:
                    out.append(kind)
        return out
    return []
