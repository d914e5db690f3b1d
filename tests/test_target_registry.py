"""The target registry is the one place a target kind is listed: everything else agrees with it."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from pytest_apexready import catalog
from pytest_apexready.fixtures import TARGET_FIXTURES, fixture_doc
from pytest_apexready.outcomes import TargetUnavailable
from pytest_apexready.profile import Profile, load_profile
from pytest_apexready.redact import Secret
from pytest_apexready.targets import Target, UnknownTarget, open_target
from pytest_apexready.targets.registry import COMPONENTS, KINDS, TARGETS, Number, readme_table

ROOT = Path(__file__).resolve().parent.parent
#: a value of each schema type, as a profile would write it
SAMPLES = {str: '"x"', int: "1", bool: "true", list: '["a"]', dict: "{ a = 1 }", Number: "1.5", Secret: '"${PW}"'}


def write_profile(root: Path, text: str) -> None:
    (root / "environments").mkdir(exist_ok=True)
    (root / "environments" / "local.toml").write_text(text)


def usage(root: Path) -> str:
    with pytest.raises(pytest.UsageError) as info:
        load_profile("local", root / "environments", root, environ={"PW": "secret-value"})
    return str(info.value)


@pytest.mark.parametrize("kind", TARGETS, ids=lambda k: k.name)
def test_client_imports_and_is_a_target(kind):
    client = kind.load()
    assert isinstance(client, type) and issubclass(client, Target), kind.client
    assert client._probe_read is not Target._probe_read, (
        f"{kind.client} does not say what its probe reads (override _probe_read)")


def test_registry_names_are_unique_and_components_cover_the_catalog():
    assert len({k.name for k in TARGETS}) == len(TARGETS)
    assert len({k.fixture for k in TARGETS}) == len(TARGETS)
    assert catalog.COMPONENTS is COMPONENTS
    used = {c for item in catalog.load_catalog().items for c in item.components}
    assert used <= set(COMPONENTS), f"catalog components without a marker: {sorted(used - set(COMPONENTS))}"


def test_every_kind_has_a_read_only_fixture_documented_from_the_registry(project):
    assert set(TARGET_FIXTURES) == {k.fixture for k in TARGETS}
    result = project.pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    out = result.stdout.str()
    for kind in TARGETS:
        assert "read-only" in kind.doc, kind.name
        assert re.search(rf"^{kind.fixture} \[session scope\] -- .*fixtures\.py:\d+$", out, re.M), kind.fixture
        first = fixture_doc(kind).splitlines()[0]
        assert first == kind.doc and f"    {first}" in out, kind.fixture


def test_markers_list_every_component(pytester):
    out = pytester.runpytest("--markers").stdout.str()
    for comp in COMPONENTS:
        assert f"@pytest.mark.{comp}: checks that read {comp}" in out


@pytest.mark.parametrize("kind", TARGETS, ids=lambda k: k.name)
def test_profile_schema_is_the_registrys(tmp_path, kind):
    """Every key of the kind's schema loads with its type; any other key is refused, listing exactly the schema."""
    table = "\n".join(f"{key} = {SAMPLES[typ]}" for key, typ in kind.schema.items())
    write_profile(tmp_path, f'description = "x"\n[targets.{kind.name}]\n{table}\n')
    prof = load_profile("local", tmp_path / "environments", tmp_path, environ={"PW": "secret-value"})
    assert set(prof.targets[kind.name]) == set(kind.schema)
    write_profile(tmp_path, f"[targets.{kind.name}]\nnot_a_key = 1\n")
    assert f"Fix: keys of [targets.{kind.name}] are {sorted(kind.schema)}" in usage(tmp_path)


#: names that are no target kind: components whose kind has not landed yet, and a typo
UNKNOWN = [*[c for c in COMPONENTS if c not in KINDS][:2], "loki", "postgress"]


@pytest.mark.parametrize("name", UNKNOWN)
def test_unknown_target_table_is_a_clear_usage_error(tmp_path, name):
    write_profile(tmp_path, f'[targets.{name}]\nurl = "http://127.0.0.1:9090"\n')
    msg = usage(tmp_path)
    assert f"environment profile environments/local.toml, key 'targets.{name}': unknown target" in msg
    assert f"target kinds are {sorted(KINDS)}" in msg


def test_open_target_unknown_name_and_missing_table_are_clear(tmp_path):
    prof = Profile(name="local", path=tmp_path / "local.toml")
    with pytest.raises(UnknownTarget, match=r"unknown target 'postgress': target kinds are \["):
        open_target(prof, "postgress")
    with pytest.raises(TargetUnavailable, match=r"has no \[targets.redis\] table"):
        open_target(prof, "redis")


def test_missing_client_library_names_the_package_to_install(tmp_path, monkeypatch):
    prof = Profile(name="local", path=tmp_path / "local.toml", targets={"postgres": {"host": "127.0.0.1"}})
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    monkeypatch.delitem(sys.modules, "pytest_apexready.targets.postgres")
    with pytest.raises(TargetUnavailable) as info:
        open_target(prof, "postgres")
    assert "could not check: postgres" in str(info.value)
    assert f"install it: pip install '{KINDS['postgres'].requires}'" in str(info.value)


def test_readme_target_table_is_the_registrys():
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- targets:begin[^>]*-->\n(.*?)<!-- targets:end -->", text, re.S)
    assert m, "README.md has no <!-- targets:begin --> ... <!-- targets:end --> table"
    assert m.group(1) == readme_table(), (
        "README's target table differs from the registry: replace it with `python -m pytest_apexready.targets`")


def test_sandbox_ports_and_local_profile_follow_the_registry():
    from sandbox.common import PORTS

    assert {k.name: k.sandbox_port for k in TARGETS if k.sandbox_port} == PORTS
    local = tomllib.loads((ROOT / "environments" / "local.toml").read_text())["targets"]
    for name, table in local.items():
        if "port" in table:
            assert table["port"] == KINDS[name].sandbox_port, name
