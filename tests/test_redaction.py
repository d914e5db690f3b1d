"""No secret value reaches any output: terminal, tracebacks, captured output, reports, junit."""

from __future__ import annotations

SECRET = "Sup3r-Secret-Pa55word"

CHECKS = """
import pytest
from pytest_apexready import check

@check("2.1.1")
def test_evidence(evidence, apex_profile):
    pw = apex_profile.targets["postgres"]["password"]
    evidence.record("dsn", f"postgresql://apex_checker:{pw.reveal()}@db:5432/apex", source="profile")
    evidence.record("settings", {"password": pw, "plain": "ok"})

@check("2.1.2")
def test_assert(apex_profile):
    secret_local = apex_profile.targets["postgres"]["password"].reveal()
    print("connecting with", secret_local)
    assert secret_local == "something else", f"login failed for password {secret_local}"

@check("2.1.3")
def test_raise(apex_profile):
    raise RuntimeError("driver said: " + apex_profile.targets["postgres"]["password"].reveal())

@check("2.1.4")
def test_unrelated_url():
    assert False, "redis://cache:hunter22@10.0.0.1:6379 refused"
"""

PROFILE = """description = "redaction"
[targets.postgres]
host = "127.0.0.1"
password = "${APEX_TEST_PW}"
"""


def test_secret_never_in_outputs(project, monkeypatch):
    monkeypatch.setenv("APEX_TEST_PW", SECRET)
    project.write("environments/local.toml", PROFILE)
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest_subprocess("-m", "database", "-l", "-rA", "--tb=long",
                                                   "--junitxml=junit.xml", "-o", "junit_logging=all")
    assert result.ret == 1
    out = result.stdout.str() + result.stderr.str()
    assert "login failed for password ***" in out
    outputs = {"terminal": out}
    for name in ("checklist.json", "checklist.md", "checklist.html"):
        outputs[name] = (project.path / "reports" / name).read_text()
    outputs["junit"] = (project.path / "junit.xml").read_text()
    for where, text in outputs.items():
        assert SECRET not in text, where
        assert "hunter22" not in text, where
    items = project.items()
    assert items["2.1.1"]["evidence"][0]["value"] == "postgresql://apex_checker:***@db:5432/apex"
    assert items["2.1.1"]["evidence"][1]["value"] == {"password": "***", "plain": "ok"}
    assert items["2.1.3"]["reason"] == "RuntimeError: driver said: ***"
    assert "redis://cache:***@10.0.0.1:6379" in items["2.1.4"]["reason"]


def test_secret_repr_is_masked():
    from pytest_apexready.redact import Redactor, Secret

    s = Secret(SECRET)
    assert SECRET not in repr(s) and SECRET not in str(s) and SECRET not in f"{s}"
    r = Redactor([SECRET])
    assert r.text(f"password={SECRET}") == "password=***"
    assert r.text("token: abc.def.ghi") == "token: ***"


def test_check_labels_ending_in_secret_keep_their_message():
    from pytest_apexready.redact import Redactor

    r = Redactor()
    text = "NextAuth secret: observed ['literal value']; expected from a Secret"
    assert r.text(text) == text
