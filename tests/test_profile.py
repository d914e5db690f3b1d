"""Environment profiles: every bad input is a UsageError naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_apexready.profile import load_profile
from pytest_apexready.redact import Secret


def write(root: Path, name: str, text: str) -> None:
    (root / "environments").mkdir(exist_ok=True)
    (root / "environments" / f"{name}.toml").write_text(text)


def load(root: Path, name: str = "local", **env: str):
    return load_profile(name, root / "environments", root, environ=env)


def usage(root: Path, name: str = "local", **env: str) -> str:
    with pytest.raises(pytest.UsageError) as info:
        load(root, name, **env)
    return str(info.value)


BASE = """
description = "shared"
[targets.postgres]
host = "db.internal"
port = 5432
dbname = "apexmediation"
user = "apex_checker"
password = "${PG_PASSWORD}"
[expectations]
postgres_ram_gib = 16
"""


def test_valid_profile_with_extends_and_secret(tmp_path):
    write(tmp_path, "base", BASE)
    write(tmp_path, "production", 'extends = "base"\n[targets.postgres]\nport = 6432\n[expectations]\ncpu_cores = 8\n')
    prof = load(tmp_path, "production", PG_PASSWORD="s3cr3t-value")
    assert prof.name == "production"
    assert prof.targets["postgres"]["host"] == "db.internal" and prof.targets["postgres"]["port"] == 6432
    assert isinstance(prof.targets["postgres"]["password"], Secret)
    assert "s3cr3t" not in repr(prof.targets)
    assert prof.secrets() == ["s3cr3t-value"]
    assert prof.expectations["postgres_ram_gib"] == 16 and prof.expectations["cpu_cores"] == 8
    assert prof.expectations["migrations"] == 14  # default filled in
    assert [p.name for p in prof.sources] == ["base.toml", "production.toml"]


def test_unknown_environment_lists_known_ones(tmp_path):
    write(tmp_path, "local", "")
    msg = usage(tmp_path, "prod")
    assert "environments/prod.toml" in msg and "no such file" in msg and "['local']" in msg


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    write(tmp_path, "local", '[targets.postgres]\nhots = "x"\n')
    msg = usage(tmp_path)
    assert "environments/local.toml, key 'targets.postgres.hots': unknown key (did you mean 'host'?)" in msg
    assert "Fix: keys of [targets.postgres] are" in msg


def test_unknown_target_and_expectation_and_top_level(tmp_path):
    write(tmp_path, "local", "[targets.postgress]\n")
    assert "key 'targets.postgress': unknown target (did you mean 'postgres'?)" in usage(tmp_path)
    write(tmp_path, "local", "[expectations]\nmigration = 14\n")
    assert "unknown expectation (did you mean 'migrations'?)" in usage(tmp_path)
    write(tmp_path, "local", "target = 1\n")
    assert "key 'target': unknown top-level key (did you mean 'targets'?)" in usage(tmp_path)


def test_wrong_type(tmp_path):
    write(tmp_path, "local", '[targets.postgres]\nport = "5432"\n')
    msg = usage(tmp_path)
    assert "key 'targets.postgres.port': must be an integer, got str '5432'" in msg
    assert "Fix: write port as an integer" in msg
    write(tmp_path, "local", "[expectations]\nmigrations = true\n")
    assert "must be an integer, got bool" in usage(tmp_path)


def test_wrong_type_of_secret_does_not_echo_it(tmp_path):
    write(tmp_path, "local", "[targets.postgres]\npassword = 123456789\n")
    msg = usage(tmp_path)
    assert "123456789" not in msg and "(value hidden)" in msg


def test_missing_variable_names_variable_and_fix(tmp_path):
    write(tmp_path, "local", BASE)
    msg = usage(tmp_path)
    assert "key 'targets.postgres.password': environment variable PG_PASSWORD is not set" in msg
    assert "Fix: export PG_PASSWORD=..." in msg


def test_env_file_fills_variables_and_missing_env_file_says_how_to_create(tmp_path):
    write(tmp_path, "local", 'env_file = ".sandbox/credentials.env"\n' + BASE)
    msg = usage(tmp_path)
    assert "run `python -m sandbox up` to create .sandbox/credentials.env" in msg
    (tmp_path / ".sandbox").mkdir()
    (tmp_path / ".sandbox" / "credentials.env").write_text("# generated\nPG_PASSWORD=from-file-pw\n")
    assert load(tmp_path).secrets() == ["from-file-pw"]
    assert load(tmp_path, PG_PASSWORD="from-env-pw").secrets() == ["from-env-pw"]


def test_extends_cycle_and_invalid_toml(tmp_path):
    write(tmp_path, "a", 'extends = "b"\n')
    write(tmp_path, "b", 'extends = "a"\n')
    assert "cycle" in usage(tmp_path, "a")
    write(tmp_path, "local", "[targets\n")
    assert "is not valid TOML" in usage(tmp_path)


def test_absent_component_needs_known_name_and_reason(tmp_path):
    write(tmp_path, "local", '[absent]\nkubernetes = "none"\n')
    assert "key 'absent.kubernetes': unknown component" in usage(tmp_path)
    write(tmp_path, "local", '[absent]\naws = ""\n')
    assert "must be a non-empty reason" in usage(tmp_path)


def test_usage_error_reaches_pytest_command_line(pytester):
    pytester.makefile(".toml", **{"environments/local": "[targets.redis]\nprot = 1\n"})
    pytester.makepyfile(test_a="from pytest_apexready import check\n@check('2.3.1')\ndef test_a(): pass\n")
    result = pytester.runpytest("--env", "local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*environments/local.toml, key 'targets.redis.prot': unknown key (did you mean 'port'?)*"])
    result = pytester.runpytest("--env", "nope")
    result.stderr.fnmatch_lines(["*environments/nope.toml: no such file. Fix: pass --env with one of ?'local'?*"])


def test_shipped_profiles_are_valid():
    root = Path(__file__).resolve().parent.parent
    env: dict[str, str] = {}
    for path in sorted((root / "environments").glob("*.toml")):
        text = path.read_text()
        import re

        env.update({v: "placeholder" for v in re.findall(r"\$\{([A-Z0-9_]+)\}", text)})
        prof = load_profile(path.stem, root / "environments", root, environ=env)
        assert prof.description, f"{path.name} has no description"
