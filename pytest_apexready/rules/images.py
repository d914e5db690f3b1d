"""Container image references (``host/repository:tag@digest``), as Kubernetes and Docker read them.

Shared by the registry checks (tests_app/test_registry.py), their self-tests and the sandbox seed,
so that the repository and tag a running workload names are found the same way everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ECR_HOST", "ImageRef", "parse_image"]

#: an ECR registry host: account, region (the China partition ends in .com.cn)
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class ImageRef:
    image: str
    host: str | None  # None: Docker Hub or a bare name (as a profile's "repo:tag" gives it)
    repository: str
    tag: str | None
    digest: str | None

    @property
    def ecr(self) -> tuple[str, str] | None:
        """(account, region) when the host is an ECR registry."""
        m = ECR_HOST.match(self.host or "")
        return (m.group(1), m.group(2)) if m else None


def parse_image(image: str) -> ImageRef:
    """Split a reference the way Docker does: the first path component is a registry host only when it
    holds a '.' or a ':' or is 'localhost' (``apexmediation-backend:1.4.2`` has none)."""
    name, _, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    host = first if slash and ("." in first or ":" in first or first == "localhost") else None
    path = rest if host else name
    repository, colon, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    return ImageRef(image, host, repository, tag if colon else None, digest or None)
