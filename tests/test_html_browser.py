"""checklist.html opened in headless Chromium: what a person sees."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from selenium import webdriver

CHECKS = """
from pytest_apexready import check, fail_check

@check("2.1.1")
def test_migrations(evidence):
    evidence.record("versions", ["001", "014"], source="SELECT version FROM schema_migrations")

@check("2.1.2")
def test_indexes():
    fail_check("indexes", observed=3, expected="at least 5", where="pg_indexes")

@check("3.1.4", part="k8s")
def test_probes(evidence):
    evidence.record("probe_paths", ["/health"], source="GET deployments in apexmediation")
    evidence.note("GET /health over HTTP is the http part")

@check("3.1.4", part="http")
def test_health():
    fail_check("GET /health", observed=503, expected=200, where="https://api.example.com/health")
"""


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.fail("chromium and chromedriver are needed: apt-get install chromium chromium-driver "
                    "(scripts/bootstrap.sh does it)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1200,900"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    yield driver
    driver.quit()


def test_html_reads_like_the_checklist(project, browser):
    from selenium.webdriver.common.by import By

    today = dt.date.today()
    project.write("attestations/local.toml", f"""
[[attestation]]
item = "9.3.1"
attested_by = "Sam Ortiz (Legal)"
date = {today}
evidence = "https://wiki.example.com/tos"
expires = {today + dt.timedelta(days=90)}
""")
    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest()
    browser.get((project.path / "reports" / "checklist.html").as_uri())

    assert browser.title == "Checklist: local"
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings[:2] == ["1. Infrastructure Verification", "2. Database Preparation"]
    assert headings[-1] == "Approval Signatures"
    assert len(browser.find_elements(By.CSS_SELECTOR, "li.item")) == 160

    passed = browser.find_element(By.ID, "item-2.1.1")
    assert passed.text.startswith("[x] 2.1.1 Migrations: All 14 migrations applied successfully")
    assert "passed" in passed.text
    failed = browser.find_element(By.ID, "item-2.1.2")
    assert failed.text.startswith("[ ] 2.1.2 Indexes")
    assert "indexes: observed 3; expected at least 5; read from pg_indexes" in failed.text
    # colour: green for passed, red for failed, as a person sees them
    assert passed.value_of_css_property("border-left-color") == "rgba(19, 115, 51, 1)"
    assert failed.value_of_css_property("border-left-color") == "rgba(165, 14, 14, 1)"
    # evidence is folded away until opened
    summary = passed.find_element(By.TAG_NAME, "summary")
    assert summary.text == "evidence (1)"
    summary.click()
    assert "SELECT version FROM schema_migrations" in passed.text

    attested = browser.find_element(By.ID, "item-9.3.1")
    assert "attested" in attested.text and attested.text.startswith("[x]")
    awaiting = browser.find_element(By.ID, "item-9.3.2")
    assert "awaiting attestation" in awaiting.text

    # an item in parts: each part under it with its outcome, findings and (folded) evidence
    health = browser.find_element(By.ID, "item-3.1.4")
    assert health.text.startswith("[ ] 3.1.4") and health.get_attribute("data-outcome") == "failed"
    k8s, http = health.find_elements(By.CSS_SELECTOR, ".part")
    assert k8s.text.startswith("part k8s (k8s) passed") and "GET /health over HTTP is the http part" in k8s.text
    assert http.text.startswith("part http (http) failed")
    assert "GET /health: observed 503; expected 200; read from https://api.example.com/health" in http.text
    assert http.value_of_css_property("border-left-color") == "rgba(165, 14, 14, 1)"
    k8s.find_element(By.TAG_NAME, "summary").click()
    assert "GET deployments in apexmediation" in k8s.text

    signoff = browser.find_element(By.CSS_SELECTOR, '.signoff[data-section="2"]')
    assert "Database Admin" in signoff.text and "not ready: blocked by 2.1.2" in signoff.text
    rows = browser.find_elements(By.CSS_SELECTOR, "#approvals tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows[1:]] == [
        "Platform Engineering Lead", "Database Admin", "Security Officer", "Finance Approver",
        "Operations Manager", "CTO / Engineering Director"]


def test_dashboard_filter_and_links(project, browser):
    """The table at the top links to each section; the filter leaves only what blocks sign-off; items have links."""
    from selenium.webdriver.common.by import By

    project.pytester.makepyfile(test_checks=CHECKS)
    project.pytester.runpytest()
    page = (project.path / "reports" / "checklist.html").as_uri()
    browser.get(page)

    rows = browser.find_elements(By.CSS_SELECTOR, "#dashboard tr[data-section]")
    assert [r.get_attribute("data-section") for r in rows] == [str(n) for n in range(1, 12)]
    db = browser.find_element(By.CSS_SELECTOR, '#dashboard tr[data-section="2"]')
    assert db.text.startswith("2. Database Preparation Database Admin")
    assert "not ready" in db.text and "not signed" in db.text
    passed = db.find_element(By.CSS_SELECTOR, 'td[data-outcome="passed"]').text
    failed = db.find_element(By.CSS_SELECTOR, 'td[data-outcome="failed"]').text
    assert (passed, failed) == ("1", "1")  # 2.1.1 and 2.1.2

    def top(element_id: str) -> float:
        return browser.execute_script(f"return document.getElementById('{element_id}').getBoundingClientRect().top")

    # each row's link lands on its section (scrolled to the top of the window)
    for number in (2, 5, 9):
        browser.find_element(By.CSS_SELECTOR, f'#dashboard tr[data-section="{number}"] a').click()
        assert browser.current_url.endswith(f"#section-{number}")
        assert abs(top(f"section-{number}")) < 2, number
        browser.get(page)

    items = browser.find_elements(By.CSS_SELECTOR, "li.item")
    assert all(i.is_displayed() for i in items)
    browser.find_element(By.ID, "only-blocking").click()
    shown = {i.get_attribute("id") for i in items if i.is_displayed()}
    blocking = {i.get_attribute("id") for i in items if i.get_attribute("data-blocking") == "true"}
    assert shown == blocking and len(shown) < len(items)
    assert {"item-2.1.2", "item-3.1.4", "item-9.3.2"} <= shown  # failed, failed in a part, awaiting attestation
    assert "item-2.1.1" not in shown  # passed
    assert not browser.find_element(By.ID, "item-2.1.1").is_displayed()
    browser.find_element(By.ID, "only-blocking").click()
    assert all(i.is_displayed() for i in items)

    # a permanent link per item, which opens the page at that item
    link = browser.find_element(By.CSS_SELECTOR, "#item-2\\.1\\.2 a.permalink")
    assert link.get_attribute("href").endswith("#item-2.1.2")
    browser.get(page + "#item-2.1.2")
    assert abs(top("item-2.1.2")) < 2
