"""Kubernetes rules: release tags, public https URLs, backup schedules, secret-looking configuration.

Reading objects (pod specs, selectors, secrets) is :mod:`pytest_apexready.k8s_objects`; these are the
judgements the checks make about what was read.
"""

from __future__ import annotations

import re

__all__ = ["BROAD_ROLES", "PUBLIC_HTTPS", "RELEASE_TAG", "SECRETISH_KEY", "SECRETISH_VALUE", "at_least_daily",
           "looks_secret", "not_public_https"]

#: an image tag naming a release: a git SHA (7-40 hex) or a version (v1.2.3, 1.2.3-rc.1)
RELEASE_TAG = re.compile(r"^(?:[0-9a-f]{7,40}|v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)$")
#: an https URL whose host is not local
PUBLIC_HTTPS = re.compile(r"^https://(?!localhost|127\.)[^/\s]+")
SECRETISH_KEY = re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key|credential|dsn)")
SECRETISH_VALUE = re.compile(r"(?i)(^sk[-_]|^whsec_|^xox[bp]-|-----BEGIN [A-Z ]*PRIVATE KEY|://[^/\s:@]+:[^/\s@]+@"
                             r"|^AKIA[0-9A-Z]{12,})")
#: roles too broad for an application's ServiceAccount
BROAD_ROLES = frozenset({"cluster-admin", "admin", "edit"})


def not_public_https(values: dict[str, str | None], wanted: str | None) -> dict[str, str | None]:
    """The containers whose URL is missing, or not *wanted* (when the profile names one),
    or else not a public https URL."""
    return {c: v for c, v in values.items()
            if not v or (v != wanted if wanted else not PUBLIC_HTTPS.match(v))}


def at_least_daily(schedule: str) -> bool:
    """A cron schedule that fires every day (or more often)."""
    fields = schedule.split()
    if schedule.startswith("@"):
        return schedule in ("@daily", "@midnight", "@hourly")
    return len(fields) == 5 and fields[2] == "*" and fields[3] == "*" and fields[4] == "*"


def looks_secret(key: str, value: str | None) -> bool:
    """A ConfigMap entry that looks like a credential, by its key or its value."""
    return bool(SECRETISH_KEY.search(key) or SECRETISH_VALUE.search(value or ""))
