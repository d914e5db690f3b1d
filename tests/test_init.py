"""``apexready init``: what it writes, that it refuses to overwrite, and that what it writes is valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from pytest_apexready.cli import main
from pytest_apexready.profile import load_profile
from pytest_apexready.scaffold import plan, secrets_of

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    "environments/production.toml", "environments/staging.toml", "waivers/production.toml",
    "attestations/production.toml", "trusted/README.md", "checks/README.md", "pyproject.toml", ".gitignore",
    ".github/workflows/apexready.yml", ".gitlab-ci.yml",
}


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_init_writes_the_scaffold_and_refuses_a_second_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    team = tmp_path / "team"
    assert main(["init", str(team)]) == 0
    assert files(team) == EXPECTED
    before = {p: (team / p).read_text() for p in EXPECTED}
    (team / "environments" / "staging.toml").write_text("# edited by the team\n")
    capsys.readouterr()

    assert main(["init", str(team)]) == 1
    err = capsys.readouterr().err
    assert "environments/staging.toml" in err and "nothing was written" in err and "--force" in err
    assert (team / "environments" / "staging.toml").read_text() == "# edited by the team\n"

    assert main(["init", str(team), "--force"]) == 0
    assert {p: (team / p).read_text() for p in EXPECTED} == before


def test_the_profiles_load_and_keep_secrets_as_variables(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path)]) == 0
    for env in ("production", "staging"):
        text = (tmp_path / "environments" / f"{env}.toml").read_text()
        names = secrets_of(text)
        assert names and all(n.startswith("APEX_") for n in names)
        assert env == "production" or not any("PROD" in n for n in names)
        profile = load_profile(env, tmp_path / "environments", tmp_path, environ={n: "x" for n in names})
        assert profile.name == env
        with pytest.raises(pytest.UsageError, match=r"environment variable APEX_\w+ is not set"):  # names it
            load_profile(env, tmp_path / "environments", tmp_path, environ={})


def test_waivers_and_attestations_are_commented_examples(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path)]) == 0
    for name, table in (("waivers", "waiver"), ("attestations", "attestation")):
        text = (tmp_path / name / "production.toml").read_text()
        assert tomllib.loads(text) == {}  # nothing in force
        example = "\n".join(line.removeprefix("# ") for line in text.splitlines()[text.splitlines().index("#") + 1:])
        assert tomllib.loads(example)[table]  # the example is valid once uncommented


def test_ini_keys_and_gitignore(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path)]) == 0
    ini = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert {"apex_environments", "apex_waivers", "apex_attestations"} <= set(ini)
    assert "reports/" in (tmp_path / ".gitignore").read_text().splitlines()


def test_a_projects_own_pyproject_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "platform-checks"\n')
    assert main(["init", str(tmp_path)]) == 0
    assert (tmp_path / "pyproject.toml").read_text() == '[project]\nname = "platform-checks"\n'
    assert "apex_environments = environments" in (tmp_path / "pytest.ini").read_text()
    assert "pytest.ini" in {f.path for f in plan(tmp_path)}


def test_ci_publishes_reports_and_junit_and_names_every_secret(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path)]) == 0
    names = secrets_of((tmp_path / "environments" / "production.toml").read_text())
    github = (tmp_path / ".github" / "workflows" / "apexready.yml").read_text()
    gitlab = (tmp_path / ".gitlab-ci.yml").read_text()
    for text in (github, gitlab):
        assert "pytest --env production -n 4 --junitxml=reports/junit.xml" in text
        assert all(n in text for n in names)
    assert "path: reports/" in github and "report_paths: reports/junit.xml" in github
    assert "paths: [reports/]" in gitlab and "junit: reports/junit.xml" in gitlab


def test_the_readme_ci_snippet_is_the_scaffolds(tmp_path: Path) -> None:
    """The README's GitLab job is, verbatim, the one `apexready init` writes (tests/test_installed.py runs it)."""
    assert main(["init", str(tmp_path)]) == 0
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```yaml\n(checklist:\n.*?)```", readme, re.S)
    assert snippet, "README: the ```yaml block with the checklist: job"
    assert snippet.group(1) in (tmp_path / ".gitlab-ci.yml").read_text()
