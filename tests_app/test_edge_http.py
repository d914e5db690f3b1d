"""Sections 3, 6 and 9 read over HTTP at the public edge: the API's health, the console's bundles and
CDN, caching, pagination, compression, the OpenAPI document and the status page.

Every request is a GET, HEAD or OPTIONS through the ``http`` client (one GET per URL per run), as
the checker account where the API needs one. The write routes are only ever sent validation
probes, which the API rejects before writing (5.2.4 in tests_security).
"""

from __future__ import annotations

from pytest_apexready import Finding, check, edge, fail_check


@check("3.1.4", part="http")
def test_health_returns_200(http, evidence):
    url = http.url("api", http.path("health"))
    resp = http.get(url)
    evidence.record("status", resp.status, source=f"GET {url}")
    if resp.status != 200:
        fail_check("GET /health through the public URL", observed=resp.status, expected=200, where=f"GET {url}")


def _console(http):
    url = http.url("console", "/")
    page = http.get(url)
    if page.status != 200:
        fail_check("console home page", observed=page.status, expected=200, where=f"GET {url}")
    return page


@check("3.2.2", part="http")
def test_console_serves_production_bundles(http, evidence):
    page = _console(http)
    assets = edge.asset_urls(page)
    evidence.record("assets", assets, source=f"GET {page.url}")
    evidence.note(f"each of the first three scripts is read up to {edge.BUNDLE_PREFIX:,} bytes")
    fail_check(findings=edge.bundle_findings(http, page, assets))


@check("3.2.6", part="http")
def test_console_assets_from_cdn(http, evidence):
    page = _console(http)
    cdn = edge.origin(http.url("cdn"))
    assets = edge.asset_urls(page)
    evidence.record("assets", assets, source=f"GET {page.url}")
    elsewhere = [a for a in assets if edge.origin(a) != cdn]
    if not assets or elsewhere:
        fail_check("static assets served from the CDN", observed=elsewhere or "no assets referenced",
                   expected=f"every script and stylesheet on {cdn}", where=f"GET {page.url}")


@check("6.2.2")
def test_static_assets_cached_for_a_year(http, expect, evidence):
    page = _console(http)
    cdn = http.url("cdn")
    assets = [a for a in edge.asset_urls(page) if "/_next/static/" in a or edge.origin(a) == edge.origin(cdn)]
    if not assets:
        fail_check("static assets on the console page", observed="none", expected="hashed bundles",
                   where=f"GET {page.url}")
    url = cdn + "/" + assets[0].split("://", 1)[1].split("/", 1)[1]
    resp = http.get(url)
    value = resp.header("cache-control")
    evidence.record("Cache-Control", value, source=f"GET {url}")
    cc = edge.cache_control(value)
    age = int(cc.get("max-age") or 0) if (cc.get("max-age") or "0").isdigit() else 0
    want = expect["static_min_max_age_s"]
    if resp.status != 200 or age < want or "immutable" not in cc:
        fail_check("Cache-Control of a static asset through the CDN", observed=f"{resp.status} {value!r}",
                   expected=f"200 with max-age >= {want} and immutable", where=f"GET {url}")


def _openapi(http, evidence):
    doc, url = edge.openapi(http)
    evidence.record("documented paths", sorted(doc["paths"]), source=f"GET {url}")
    return doc, url


@check("6.2.3")
def test_get_routes_send_cache_control(http, evidence):
    doc, _ = _openapi(http, evidence)
    findings = []
    seen = {}
    for path in edge.get_routes(doc):
        resp = edge.api_get(http, path)
        seen[path] = resp.header("cache-control")
        if not resp.header("cache-control"):
            findings.append(Finding("Cache-Control header", "absent", "present on every GET response",
                                    f"GET {resp.url} ({resp.status})"))
    evidence.record("Cache-Control by route", seen, source=http.url("api"))
    fail_check(findings=findings)


@check("6.3.3")
def test_list_routes_paginate(http, expect, evidence):
    doc, _ = _openapi(http, evidence)
    biggest = expect["api_max_page_size"]
    findings = []
    lists = []
    for path in edge.get_routes(doc):
        whole = edge.api_get(http, path)
        if whole.status != 200 or edge.list_body(whole) is None:
            continue
        lists.append(path)
        one = edge.api_get(http, f"{path}?limit=1")
        items = edge.list_body(one)
        where = f"GET {one.url}"
        if one.status != 200 or items is None or len(items) > 1:
            findings.append(Finding("page size limit=1", f"{one.status}, {len(items or [])} items",
                                    "200 with at most 1 item", where))
        elif len(edge.list_body(whole) or []) > 1 and not edge.next_page(one):
            findings.append(Finding("cursor or next link", "none", "a cursor when more items exist", where))
        over = edge.api_get(http, f"{path}?limit={biggest + 1}")
        over_items = edge.list_body(over)
        if over.status < 400 and (over_items is None or len(over_items) > biggest):
            findings.append(Finding(f"page size above the maximum ({biggest + 1})",
                                    f"{over.status}, {len(over_items or [])} items",
                                    f"a 4xx, or at most {biggest} items", f"GET {over.url}"))
    evidence.record("list routes", lists, source=http.url("api"))
    if not lists:
        findings.append(Finding("list routes", "none found among the documented GET routes", "at least one",
                                http.url("api", http.path("openapi"))))
    fail_check(findings=findings)


@check("6.3.4")
def test_responses_compressed(http, expect, evidence):
    url = http.url("api", http.path("openapi"))
    resp = http.get(url, headers={"Accept-Encoding": "gzip, br"})
    encoding = resp.header("content-encoding")
    evidence.record("Content-Encoding", encoding, source=f"GET {url} ({len(resp.body)} bytes)")
    if len(resp.body) >= expect["compression_min_bytes"] and encoding not in ("gzip", "br"):
        fail_check(f"compression of a {len(resp.body)}-byte response", observed=encoding or "identity",
                   expected="gzip or br", where=f"GET {url} (Accept-Encoding: gzip, br)")


@check("9.1.1")
def test_openapi_matches_live_routes(http, evidence):
    doc, url = _openapi(http, evidence)
    findings = []
    for path in edge.get_routes(doc):
        resp = edge.api_get(http, path)
        if resp.status == 404:
            findings.append(Finding("documented route", "404", "served", f"GET {resp.url}"))
    for path in edge.post_routes(doc):
        resp = edge.validation_probe(http, path)
        if resp.status == 404:
            findings.append(Finding("documented route", "404", "served", f"POST {resp.url} (validation probe)"))
    page = _console(http)
    called, scripts = edge.console_api_paths(http, page)
    evidence.record("API paths the console calls", called, source=f"{len(scripts)} scripts of {page.url}")
    undocumented = [p for p in called if p not in doc["paths"]]
    if undocumented:
        findings.append(Finding("routes the console calls", undocumented, "every one in the OpenAPI document", url))
    fail_check(findings=findings)


@check("9.2.1")
def test_status_page_lists_components(http, expect, evidence):
    url = http.url("status", "/")
    if not url.startswith("https://"):
        fail_check("status page scheme", observed=url, expected="https://", where="[targets.http] status_url")
    resp = http.get(url)
    text = resp.text.lower()
    missing = [c for c in expect["status_components"] if c.lower() not in text]
    evidence.record("status", resp.status, source=f"GET {url}")
    if resp.status != 200 or missing:
        fail_check("status page", observed=f"{resp.status}, missing components {missing}",
                   expected=f"200 listing {expect['status_components']}", where=f"GET {url}")
