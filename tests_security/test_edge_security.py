"""Section 5 read at the public edge: rate limiting, CORS, security headers, input validation, the
token lifetime, the GDPR export, age verification and the privacy policy link.

Read-only: GETs and OPTIONS, a sign-in as the checker account, and POSTs the API must reject before
it writes anything (a malformed body; an under-13 signup). The evidence of each says so.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from pytest_apexready import Finding, check, edge, fail_check

UNKNOWN_ORIGIN = "https://attacker.example"
NO_WRITE = ("validation-only request: the API rejects it before any write (tests/edge proves it with "
            "PostgreSQL's statement log)")


@check("5.2.1")
def test_rate_limit_from_headers(http, expect, evidence, pytestconfig):
    url = http.url("api", expect["rate_limited_path"])
    resp = http.get(url, auth=True)
    headers = {k: v for k, v in resp.headers.items() if "ratelimit" in k}
    evidence.record("rate limit headers", headers, source=f"GET {url}")
    limit, window = edge.rate_limit(resp.headers)
    want = (expect["rate_limit_requests"], expect["rate_limit_window_s"])
    findings = []
    if (limit, window) != want:
        findings.append(Finding("rate limit (requests, window seconds)", (limit, window) if headers else
                                "no RateLimit headers", want, f"GET {url}"))
    if not pytestconfig.getoption("apex_probe"):
        evidence.note("one request reads the limit from the standard headers; the limit is never exhausted "
                      "(--apex-probe exhausts it on a test route)")
        fail_check(findings=findings)
        return
    # opt-in (refused on production = true profiles): prove the limiter refuses, not only that it says so
    probe = http.url("api", expect["rate_limit_probe_path"] or expect["rate_limited_path"])
    sent, status, took = edge.probe_rate_limit(http, probe, want[0])
    evidence.record("probe", {"requests": sent, "last status": status, "seconds": round(took, 1)},
                    source=f"GET {probe} (--apex-probe)")
    evidence.note(f"--apex-probe: unauthenticated GETs until a 429, at most {want[0] + 1} and "
                  f"{edge.PROBE_SECONDS:g} s; the limiter's budget for this client is spent until its window ends")
    if status != 429:
        findings.append(Finding("429 from the rate limiter (--apex-probe)", f"no 429 after {sent} requests in "
                                f"{took:.1f} s (last status {status})", f"a 429 within {want[0] + 1} requests",
                                f"GET {probe}"))
    fail_check(findings=findings)


@check("5.2.2")
def test_cors_only_console_origin(http, expect, evidence):
    console = edge.origin(http.url("console"))
    url = http.url("api", expect["rate_limited_path"])
    findings = []
    seen = {}
    for origin in (console, UNKNOWN_ORIGIN):
        pre = http.request("OPTIONS", url, headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                                    "Access-Control-Request-Headers": "authorization"})
        simple = http.get(url, headers={"Origin": origin}, auth=True)
        for kind, resp in (("preflight", pre), ("simple", simple)):
            allowed = resp.header("access-control-allow-origin")
            creds = (resp.header("access-control-allow-credentials") or "").lower() == "true"
            seen[f"{kind} from {origin}"] = {"allow-origin": allowed, "allow-credentials": creds}
            where = f"{resp.method} {url} with Origin {origin}"
            if allowed == "*":
                findings.append(Finding(f"{kind} Access-Control-Allow-Origin", "*", console, where))
                if creds:
                    findings.append(Finding("wildcard origin with credentials", "* and credentials true",
                                            "never both", where))
            elif origin == UNKNOWN_ORIGIN and allowed == UNKNOWN_ORIGIN:
                # the value decides: a fixed console origin sent to everyone still blocks this origin
                findings.append(Finding(f"{kind} answer to an unknown origin", allowed, f"not allowed (only "
                                        f"{console})", where))
            elif origin == console and allowed != console:
                findings.append(Finding(f"{kind} answer to the console's origin", allowed, console, where))
    evidence.record("CORS answers", seen, source=url)
    fail_check(findings=findings)


HELMET = {
    "content-security-policy": "present",
    "strict-transport-security": "present",
    "x-content-type-options": "nosniff",
    "referrer-policy": "present",
}


@check("5.2.3")
def test_security_headers(http, evidence):
    url = http.url("api", http.path("health"))
    resp = http.get(url)
    h = resp.headers
    evidence.record("headers", {k: h.get(k) for k in [*HELMET, "x-frame-options", "x-powered-by"]},
                    source=f"GET {url}")
    findings = []
    for name, want in HELMET.items():
        got = h.get(name)
        if got is None or (want != "present" and got.lower() != want):
            findings.append(Finding(name, got or "absent", want, f"GET {url}"))
    if "x-frame-options" not in h and "frame-ancestors" not in (h.get("content-security-policy") or ""):
        findings.append(Finding("X-Frame-Options or CSP frame-ancestors", "absent", "one of them", f"GET {url}"))
    if "x-powered-by" in h:
        findings.append(Finding("X-Powered-By", h["x-powered-by"], "absent", f"GET {url}"))
    fail_check(findings=findings)


@check("5.2.4")
def test_write_routes_validate_input(http, evidence):
    doc, url = edge.openapi(http)
    routes = edge.post_routes(doc)
    evidence.record("write routes", routes, source=f"GET {url}")
    evidence.note(f"each route was sent {edge.PROBE_BODY}; {NO_WRITE}")
    findings = []
    answers = {}
    for path in routes:
        resp = edge.validation_probe(http, path)
        answers[path] = resp.status
        where = f"POST {resp.url}"
        if resp.status not in (400, 422):
            findings.append(Finding("answer to a malformed body", resp.status, "400 with a validation error", where))
            continue
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not ({"error", "errors", "issues", "message"} & set(body)):
            findings.append(Finding("validation error body", resp.text[:120], "JSON naming the error", where))
    evidence.record("answers", answers, source=http.url("api"))
    fail_check(findings=findings)


@check("5.2.6")
def test_jwt_lifetime_and_refresh(http, expect, evidence):
    url = http.url("api", http.path("signin"))
    tokens = http.tokens()
    claims = edge.decode_jwt(str(tokens.get("accessToken", "")))
    days = (claims.get("exp", 0) - claims.get("iat", 0)) / 86400
    evidence.record("access token exp - iat (days)", round(days, 3), source=f"POST {url} (sign-in)")
    want = expect["jwt_lifetime_days"]
    findings = []
    if abs(days - want) > 0.01:
        findings.append(Finding("access token lifetime", f"{days:g} days", f"{want} days", f"POST {url}"))
    refresh_url = http.url("api", http.path("refresh"))
    if not tokens.get("refreshToken"):
        findings.append(Finding("refresh token", "none issued at sign-in", "a refresh token", f"POST {url}"))
    else:
        resp = http.request("POST", refresh_url, json_body={"refreshToken": tokens["refreshToken"]}, purpose="sign-in")
        fresh = resp.json() if resp.status == 200 else {}
        evidence.record("refresh", resp.status, source=f"POST {refresh_url}")
        if resp.status != 200 or not fresh.get("accessToken"):
            findings.append(Finding("refresh endpoint", resp.status, "200 with a new access token",
                                    f"POST {refresh_url}"))
    fail_check(findings=findings)


@check("5.3.1")
def test_gdpr_export(http, evidence):
    url = http.url("api", http.path("export"))
    resp = http.get(url, auth=True)
    evidence.record("status", resp.status, source=f"GET {url}")
    email = str(http.settings.get("checker_email", ""))
    if resp.status != 200:
        fail_check("GDPR export endpoint", observed=resp.status, expected="200", where=f"GET {url}")
    resp.json()   # a JSON export (an HTML error page is an error, not a pass)
    if email.lower() not in resp.text.lower():
        fail_check("GDPR export content", observed="the checker account's email is not in it",
                   expected=f"the signed-in user's own data ({email})", where=f"GET {url}")


@check("5.3.2")
def test_signup_refuses_under_13(http, expect, evidence):
    url = http.url("api", http.path("signup"))
    today = dt.date.today()
    birth = today.replace(year=today.year - (expect["coppa_min_age"] - 3))
    body = {"email": f"apexready-coppa-probe-{uuid.uuid4().hex[:12]}@example.invalid",
            "password": uuid.uuid4().hex + "Aa1!", "birthDate": birth.isoformat(), "company": "apexready COPPA probe"}
    resp = http.request("POST", url, json_body=body, purpose="validation-probe")
    evidence.record("answer to an under-13 signup", resp.status, source=f"POST {url} (birthDate {birth})")
    evidence.note(NO_WRITE)
    if not 400 <= resp.status < 500 or resp.status == 409:
        observed = f"{resp.status} (the account {body['email']} was created)" if resp.status < 300 else resp.status
        fail_check("signup with an under-13 birth date", observed=observed,
                   expected="a 4xx refusal before anything is written", where=f"POST {url}")


_LINK = re.compile(r"""<a\b[^>]*href=["']([^"']+)["'][^>]*>(.*?)</a>""", re.I | re.S)


@check("5.3.5")
def test_privacy_policy_linked(http, evidence):
    url = http.url("console", "/")
    page = http.get(url)
    links = [(href, text) for href, text in _LINK.findall(page.text)
             if "privacy" in href.lower() or "privacy" in text.lower()]
    evidence.record("privacy links", [h for h, _ in links], source=f"GET {url}")
    if not links:
        fail_check("privacy policy link on the console", observed="none", expected="a link to the privacy policy",
                   where=f"GET {url}")
    target = links[0][0] if "://" in links[0][0] else http.url("console", links[0][0])
    resp = http.get(target)
    if resp.status != 200:
        fail_check("privacy policy page", observed=resp.status, expected=200, where=f"GET {target}")
