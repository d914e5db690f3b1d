"""``apexready init [DIR]``: scaffold a team's repository that runs the packaged checklist.

What it writes (and nothing else): the two profiles, made from the annotated example
``environments/production.example.toml`` (secrets stay ``${VAR}``); ``waivers/`` and
``attestations/`` with a commented example each; ``trusted/`` with a README; ``checks/`` for the
team's own checks; the plugin's ini keys (``pyproject.toml``, or ``pytest.ini`` when a
``pyproject.toml`` is already there); ``.gitignore``; CI for GitHub Actions and GitLab CI. An
existing file is never replaced unless ``force`` is given: then nothing at all is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["ScaffoldError", "example_profile", "plan", "scaffold"]

_TEMPLATES = "pytest_apexready.templates"
#: the checkout's copy of the annotated example, for a run from the source tree (the wheel packages it)
_SOURCE_EXAMPLE = Path(__file__).resolve().parent.parent / "environments" / "production.example.toml"


class ScaffoldError(Exception):
    """A file to be written already exists (and ``force`` was not given)."""


@dataclass(frozen=True)
class File:
    path: str  # relative to the target directory
    text: str


def example_profile() -> str:
    """The annotated production profile, from the installed package or this checkout."""
    try:
        packaged = resources.files(f"{_TEMPLATES}.environments") / "production.example.toml"
        if packaged.is_file():
            return packaged.read_text("utf-8")
    except ModuleNotFoundError:
        pass
    return _SOURCE_EXAMPLE.read_text("utf-8")


def _template(name: str) -> str:
    return (resources.files(_TEMPLATES) / name).read_text("utf-8")


def _profile(example: str, env: str) -> str:
    lines = example.splitlines()
    head = [f"# The {env} profile, made by `apexready init` from pytest-apexready's annotated example.",
            f"# Fill in the hosts; secrets stay ${{VAR}} (set them in the pipeline). Run: pytest --env {env}"]
    body = "\n".join(lines[2:] if lines and lines[0].startswith("# Production profile") else lines) + "\n"
    if env != "production":
        body = body.replace("APEX_PROD_", f"APEX_{env.upper()}_").replace("-prod", f"-{env}")
        body = re.sub(r'^description = ".*"$', f'description = "ApexMediation {env}"', body, count=1,
                      flags=re.MULTILINE)
    return "\n".join(head) + "\n" + body


def secrets_of(profile: str) -> list[str]:
    """The ``${VAR}`` names a profile reads (the placeholder ``${VAR}`` of the comments excluded)."""
    return sorted(set(re.findall(r'"\$\{([A-Z][A-Z0-9_]*)\}"', profile)) - {"VAR"})


def plan(directory: Path) -> list[File]:
    """Every file ``init`` writes into ``directory``."""
    example = example_profile()
    production, staging = _profile(example, "production"), _profile(example, "staging")
    names = secrets_of(production)
    pyproject = directory / "pyproject.toml"
    theirs = pyproject.is_file() and "apex_environments" not in pyproject.read_text("utf-8", errors="replace")
    # a pyproject.toml of the team's own project is left alone: the ini keys go to pytest.ini then
    ini_name = "pytest.ini" if theirs else "pyproject.toml"
    ini = (ini_name, _template(f"{ini_name}.tmpl"))
    github = _template("github-workflow.yml").replace(
        "@@SECRETS@@", "\n".join(f"          {n}: ${{{{ secrets.{n} }}}}" for n in names) or "          {}")
    gitlab = _template("gitlab-ci.yml").replace("@@SECRETS@@", " ".join(names) or "(none)")
    return [
        File("environments/production.toml", production),
        File("environments/staging.toml", staging),
        File("waivers/production.toml", _template("waivers.toml")),
        File("attestations/production.toml", _template("attestations.toml")),
        File("trusted/README.md", _template("trusted-README.md")),
        File("checks/README.md", _template("checks-README.md")),
        File(*ini),
        File(".gitignore", _template("gitignore")),
        File(".github/workflows/apexready.yml", github),
        File(".gitlab-ci.yml", gitlab),
    ]


def scaffold(directory: Path, force: bool = False) -> list[Path]:
    """Write the scaffold; refuse (writing nothing) when any of its files exists, unless ``force``."""
    files = plan(directory)
    existing = [f.path for f in files if (directory / f.path).exists()]
    if existing and not force:
        raise ScaffoldError(f"{directory} already has {', '.join(existing)}; nothing was written. "
                            "Fix: apexready init --force to replace them, or another directory")
    written = []
    for f in files:
        dest = directory / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(f.text, "utf-8")
        written.append(dest)
    return written
