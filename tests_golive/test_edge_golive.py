"""Go-live at the edge (10.1.3, 10.2.1-10.2.4): DNS TTLs and cutover records, HTTPS on every name,
every health endpoint, and the test customer's first signup. Queries, handshakes, GETs and one
SELECT: read-only."""

from __future__ import annotations

from pytest_apexready import Finding, check, edge, fail_check
from pytest_apexready.targets.tls import OLD_PROTOCOLS

HEALTHY = {"healthy", "ok", "up", "pass", "green"}


@check("10.1.3")
def test_cutover_ttls(dns, expect, evidence):
    findings = []
    seen = {}
    for name in expect["dns_cutover_names"]:
        for server in dns.nameservers:
            answer = dns.ask(server, name)
            first = answer.records[0] if answer.records else None
            seen[f"{answer.name} @{server}"] = answer.describe()
            if first is None:
                findings.append(Finding(f"{answer.name}", answer.describe(), "a record", server))
            elif first[2] > expect["dns_max_ttl"]:
                findings.append(Finding(f"TTL of {answer.name} ({first[0]})", first[2],
                                        f"<= {expect['dns_max_ttl']}", server))
    evidence.record("TTLs", seen, source=dns.where)
    fail_check(findings=findings)


@check("10.2.1")
def test_cutover_records_point_at_targets(dns, expect, evidence):
    records = expect["dns_records"] or {}
    if not records:
        fail_check("expected DNS records", observed="expectations.dns_records is not set",
                   expected="name -> address or CNAME target", where="the profile's [expectations]")
    findings = []
    for name, want in records.items():
        for server in dns.nameservers:
            answer = dns.ask(server, name)
            first = answer.records[0][1] if answer.records else answer.rcode
            evidence.record(answer.name, answer.describe(), source=server)
            if first.rstrip(".") != str(want).rstrip("."):
                findings.append(Finding(f"{answer.name}", answer.describe(), want, server))
    fail_check(findings=findings)


@check("10.2.2")
def test_https_on_all_names(tls, expect, evidence):
    findings = edge.certificate_findings(tls, expect, evidence)
    for ep in tls.endpoints:
        old = [v for v in OLD_PROTOCOLS if tls.accepts(ep, v)]
        if old:
            findings.append(Finding(f"protocol versions {ep.name} accepts", old, "TLS 1.2 and later only",
                                    f"TLS {ep.label}"))
        status, headers = tls.head(ep, plain=True)
        location = headers.get("location", "")
        port = tls.settings.get("http_port", 80)
        evidence.record(f"http://{ep.name}:{port}/", f"{status} {location}".strip(), source="HEAD")
        if status not in (301, 302, 307, 308) or not location.startswith("https://"):
            findings.append(Finding(f"plain HTTP on {ep.name}", f"{status} {location}".strip(),
                                    "a redirect to https://", f"HEAD http://{ep.name}:{port}/"))
        if not tls.served(ep).verify_error:
            _, secure = tls.head(ep)
            if "strict-transport-security" not in secure:
                findings.append(Finding(f"HSTS on {ep.name}", "absent", "Strict-Transport-Security",
                                        f"HEAD https://{ep.label}/"))
    fail_check(findings=findings)


@check("10.2.3")
def test_every_service_healthy(http, evidence):
    urls = [str(u) for u in http.settings.get("health_urls", [])] or [http.url("api", http.path("health"))]
    findings = []
    for url in urls:
        resp = http.get(url)
        try:
            body = resp.json()
        except ValueError:
            body = None
        status = str(body.get("status", "")).lower() if isinstance(body, dict) else ""
        down = {k: v for k, v in (body.get("components") or {}).items()
                if isinstance(v, dict) and str(v.get("status", "")).lower() not in HEALTHY} \
            if isinstance(body, dict) and isinstance(body.get("components"), dict) else {}
        evidence.record(url, {"status": resp.status, "reported": status or None, "down": down or None},
                        source=f"GET {url}")
        if resp.status != 200 or (status and status not in HEALTHY) or down:
            findings.append(Finding("health", f"{resp.status} {status} {down or ''}".strip(),
                                    "200, reporting healthy", f"GET {url}"))
    fail_check(findings=findings)


@check("10.2.4")
def test_first_signup_of_test_customer(postgres, expect, evidence):
    email = expect["test_customer_email"]
    where = f"SELECT FROM users on {postgres.where}"
    if not email:
        fail_check("test customer", observed="expectations.test_customer_email is not set",
                   expected="the test customer's email", where="the profile's [expectations]")
    rows = postgres.query("SELECT u.id, u.created_at, c.name AS customer FROM users u JOIN customers c "
                          "ON c.id = u.customer_id WHERE lower(u.email) = lower(%s) ORDER BY u.created_at LIMIT 1",
                          (email,))
    evidence.record("test customer signup", rows[0] if rows else None, source=where)
    if not rows:
        fail_check(f"signup of {email}", observed="no such user", expected="the test customer's account", where=where)
