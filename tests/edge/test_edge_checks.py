"""The edge checks (http, tls, dns), both directions, against the sandbox's real edge.

- compliant: the edge of ``python -m sandbox up`` passes every item;
- drifted: the drifted edge (same processes, drift ports) fails every item, with observed and expected;
- read-only: nginx's access log shows the checker sending only GET/HEAD/OPTIONS, sign-in and
  validation-rejected POSTs; PostgreSQL's statement log (a server of our own) shows no write;
- bad input: an unresolvable name, a reset connection, a 502, a redirect loop, a 30 MB body, HTML
  where JSON is expected and an unknown CA each give a clear item error, and the run goes on.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from edgeprofile import DNS_DRIFT, drifted, profile

from checkrun import ROOT, run_checks
from sandbox import edge
from sandbox.edge import config

SUITES = ("tests_app/test_edge_http.py", "tests_security/test_edge_security.py", "tests_infra/test_edge_infra.py",
          "tests_golive/test_edge_golive.py")
MARKER = "http or tls or dns"
ITEMS = ["1.1.7", "1.1.8", "3.1.4", "3.2.6", "5.2.1", "5.2.2", "5.2.3", "5.2.4", "5.2.6", "5.3.1", "5.3.2",
         "5.3.5", "6.2.2", "6.2.3", "6.3.3", "6.3.4", "9.1.1", "9.2.1", "10.1.3", "10.2.1", "10.2.2", "10.2.3",
         "10.2.4"]
#: 3.2.2's http half passes on the drifted edge too (both consoles run the one cached production build);
#: it is shown failing on a console served by `next dev` (test_dev_console_is_not_a_production_build)
ALL_ITEMS = [*ITEMS, "3.2.2"]
P = config.PORTS


@pytest.fixture(scope="module")
def edge_up():
    rows = {r["component"]: r["state"] for r in edge.status_rows()}
    down = [c for c, s in rows.items() if s != "running"]
    if down:
        pytest.fail(f"the sandbox edge is not running ({', '.join(down)}): start it with `python -m sandbox up`")
    edge.reset_rate_limit()   # each module starts with the API's full 100-request budget


def run(tmp_path, text, *extra):
    return run_checks(tmp_path, MARKER, text, *extra, suites=SUITES)


def test_compliant_edge_passes_every_item(tmp_path, edge_up):
    start = edge.ACCESS_LOG.stat().st_size
    result = run(tmp_path, profile())
    outcomes = {i: result.outcome(i) for i in ALL_ITEMS}
    assert outcomes == {i: "passed" for i in ALL_ITEMS}, {i: result.reason(i) for i, o in outcomes.items()
                                                            if o != "passed"}
    assert "validation-only" in str(result.items["5.2.4"]["evidence"])
    # read-only, from nginx's side: the checker sent GET, HEAD and OPTIONS, signed in, and POSTs the API refused
    lines = [ln for ln in edge.ACCESS_LOG.read_text(errors="replace")[start:].splitlines()
             if "pytest-apexready" in ln]
    assert len(lines) > 20, lines
    parsed = [re.search(r'"(\w+) (\S+)" (\d{3})', ln) for ln in lines]
    assert all(parsed), lines
    writes = [(m[1], m[2], m[3]) for m in parsed if m and m[1] not in ("GET", "HEAD", "OPTIONS")]
    refused = [w for w in writes if w[0] == "POST" and w[2].startswith("4")]
    tokens = [w for w in writes if w[0] == "POST" and w[2] == "200" and re.search(r"/auth/(signin|refresh)$", w[1])]
    assert sorted(writes) == sorted(refused + tokens), writes
    assert refused and tokens


def test_drifted_edge_fails_every_item(tmp_path, edge_up):
    result = run(tmp_path, drifted())
    outcomes = {i: result.outcome(i) for i in ITEMS}
    assert outcomes == {i: "failed" for i in ITEMS}, {i: (o, result.reason(i)) for i, o in outcomes.items()}
    def r(item):   # the reason shows the first findings; the record keeps them all
        return result.reason(item) + " " + str(result.items[item].get("findings"))

    for item in ITEMS:
        assert "observed" in r(item) and "expected" in r(item) and "read from" in r(item), (item, r(item))
    assert "at resolver: observed A 127.0.0.1 (TTL 300); expected the authoritative answer ['127.0.0.10']" in r("1.1.7")
    assert "certificate has expired" in r("1.1.8") and "Hostname mismatch" in r("1.1.8")
    # the 3-day certificate is written when the sandbox's certificates are, so fewer days are left later on
    left = re.search(r"'observed': '(\d+\.\d) \(not after [^)]*\)', 'expected': '>= 30', "
                     r"'where': 'TLS status\.", r("1.1.8"))
    assert left and 0 < float(left[1]) <= 3.0, r("1.1.8")
    assert "observed 503" in r("3.1.4")
    assert "/_next/static/" in r("3.2.6") and "expected every script and stylesheet on https://cdn." in r("3.2.6")
    assert "observed no RateLimit headers; expected (100, 900)" in r("5.2.1")
    assert "observed *" in r("5.2.2")
    assert "content-security-policy: observed absent" in r("5.2.3") and "X-Powered-By: observed Express" in r("5.2.3")
    assert "observed 500; expected 400" in r("5.2.4")
    assert "observed 30 days; expected 7 days" in r("5.2.6")
    assert "observed 404; expected 200" in r("5.3.1")
    assert "observed 201 (the account apexready-coppa-probe-" in r("5.3.2")
    assert "privacy policy link on the console: observed none" in r("5.3.5")
    assert "max-age=0" in r("6.2.2")
    assert "Cache-Control header: observed absent" in r("6.2.3")
    assert "page size limit=1: observed 200, 8 items" in r("6.3.3")
    assert "observed identity; expected gzip or br" in r("6.3.4")
    assert "observed ['/api/v1/reports/revenue']" in r("9.1.1")
    assert "missing components ['API', 'Console', 'Database', 'Cache', 'CDN']" in r("9.2.1")
    assert "observed 86400; expected <= 60" in r("10.1.3")
    assert "status.apexmediation.local: observed A 127.0.0.10 (TTL 86400); expected 127.0.0.1" in r("10.2.1")
    assert "plain HTTP on" in str(result.items["10.2.2"]["findings"])
    assert "['TLSv1', 'TLSv1.1']" in str(result.items["10.2.2"]["findings"])
    assert "'HSTS on cdn.apexmediation.local', 'observed': 'absent'" in str(result.items["10.2.2"]["findings"])
    assert "'redis': {'status': 'down'" in r("10.2.3")
    assert "signup of nobody@apexmediation.local: observed no such user" in r("10.2.4")


def test_cors_compares_the_value_not_the_header(tmp_path, edge_up):
    """A fixed console origin sent to every Origin is not an allowed unknown origin (browsers block it)."""
    api = f"http://api.{config.ZONE}:{P['drift_api_cors']}"
    result = run(tmp_path, profile(https=P["drift_https"], api_url=api), "-k", "cors")
    assert result.outcome("5.2.2") == "passed", result.reason("5.2.2")
    answers = str(result.items["5.2.2"]["evidence"])
    assert "from https://attacker.example': {'allow-origin': 'https://console." in answers


@pytest.fixture(scope="module")
def dev_console(tmp_path_factory):
    """The console's own sources served by `next dev` (too heavy for `sandbox up`: started here only)."""
    from netutil import free_port
    from sandbox.common import stop_pid
    from sandbox.edge import console_dev

    port = free_port()
    proc = console_dev.start(tmp_path_factory.mktemp("next-dev"), port)
    try:
        first = console_dev.wait_first_page(proc, port)
        rss = _tree_rss_mib(proc.pid)
        print(f"next dev: first page after {first:.1f}s, {rss:.0f} MiB RSS")
        yield f"http://console.{config.ZONE}:{port}"
    finally:
        stop_pid(proc.pid, kill_group=True, timeout=10)


def _tree_rss_mib(pid):
    out = subprocess.run(["ps", "-o", "rss=", "--pid", str(pid), "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return sum(int(x) for x in out.split()) / 1024


def test_dev_console_is_not_a_production_build(tmp_path, edge_up, dev_console):
    """3.2.2's failing direction: un-hashed bundle names, webpack's dev layer in the page, and webpack's
    development output in the bundles (each read only up to its first 256 KiB: main-app.js is 7.6 MB)."""
    result = run(tmp_path, profile(console_url=dev_console), "-k", "production_bundles")
    assert result.outcome("3.2.2") == "failed", result.reason("3.2.2")
    findings = {f["what"]: f for f in result.items["3.2.2"]["findings"]}
    unhashed = findings["bundles without a content hash"]
    assert f"{dev_console}/_next/static/chunks/main-app.js?v=" in str(unhashed["observed"])
    assert unhashed["expected"] == "every bundle name hashed" and unhashed["where"] == dev_console + "/"
    assert "(app-pages-browser)/" in str(findings["development-server markers in the page"]["observed"])
    dev = {f["where"].split("/chunks/")[-1]: f["observed"] for f in result.items["3.2.2"]["findings"]
           if f["what"] == "development build output in the bundle"}
    main = next(v for k, v in dev.items() if k.startswith("main-app.js?v="))
    assert main.startswith("['webpack-internal:///', 'eval-source-map'") and "(first bytes only)" in main, dev
    assert len(dev) == 3, dev
    assert "observed" in result.reason("3.2.2") and "expected" in result.reason("3.2.2")


# --------------------------------------------------------------------------- --apex-probe (5.2.1)

PROBE = ("--apex-probe", "-k", "rate_limit")
PROBE_PATH = {"rate_limit_probe_path": "/api/v1/ad-networks"}


def test_probe_is_refused_on_a_production_profile(tmp_path, edge_up):
    path = tmp_path / "prod.toml"
    path.write_text(profile(top="production = true"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--env", str(path), *PROBE,
                           "--apex-no-report", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
                           str(ROOT / SUITES[1])], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (f"--apex-probe is refused on environment profile {path.stem} ({path}), key 'production' = true"
            in proc.stderr), proc.stderr
    # without the option the same profile runs (the single-request read only)
    result = run(tmp_path, profile(top="production = true"), "-k", "rate_limit")
    assert result.outcome("5.2.1") == "passed", result.reason("5.2.1")
    assert "probe" not in [e["name"] for e in result.items["5.2.1"]["evidence"]]


def test_probe_sees_a_429_within_the_limit(tmp_path, edge_up):
    edge.reset_rate_limit()
    try:
        result = run(tmp_path, profile(expect_extra=PROBE_PATH), *PROBE)
    finally:
        edge.reset_rate_limit()   # loopback-only sandbox route: the next run gets its full budget back
    assert result.outcome("5.2.1") == "passed", result.reason("5.2.1")
    probe = next(e for e in result.items["5.2.1"]["evidence"] if e["name"] == "probe")
    assert probe["value"]["last status"] == 429 and 1 <= probe["value"]["requests"] <= 101, probe
    assert probe["source"] == f"GET https://api.{config.ZONE}:{P['https']}/api/v1/ad-networks (--apex-probe)"


def test_probe_fails_without_a_limiter(tmp_path, edge_up):
    result = run(tmp_path, drifted().replace("[expectations]", "[expectations]\nrate_limit_probe_path = "
                                             '"/api/v1/ad-networks"'), *PROBE)
    assert result.outcome("5.2.1") == "failed", result.reason("5.2.1")
    finding = next(f for f in result.items["5.2.1"]["findings"] if "--apex-probe" in f["what"])
    assert finding["observed"].startswith("no 429 after 101 requests in "), finding
    assert finding["expected"] == "a 429 within 101 requests"
    assert finding["where"] == f"GET https://api.{config.ZONE}:{P['drift_https']}/api/v1/ad-networks"


# --------------------------------------------------------------------------- bad input

class _Bad(BaseHTTPRequestHandler):
    mode = "loop"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/health" and self.mode != "loop":
            return self._send(200, b'{"status": "healthy"}', "application/json")
        if self.mode == "loop":
            self.send_response(302)
            self.send_header("Location", self.path)
            self.end_headers()
        elif self.mode == "big":
            # 30 MB, close-delimited (no Content-Length): the client must stop reading at its limit
            self.protocol_version = "HTTP/1.0"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            chunk = b" " * 65536
            try:
                for _ in range(30 * 16):
                    self.wfile.write(chunk)
            except OSError:
                pass
        else:
            self._send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(mode):
    handler = type(f"Bad_{mode}", (_Bad,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _resetting_server():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)

    def loop():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()   # RST

    threading.Thread(target=loop, daemon=True).start()
    return sock


def _http_errors(result, phrase):
    http_items = ["3.1.4", "5.2.1", "5.2.3", "5.3.1", "6.3.4", "9.1.1", "9.2.1"]
    for item in http_items:
        assert result.outcome(item) == "error", (item, result.outcome(item), result.reason(item))
        assert phrase in result.reason(item), (item, result.reason(item))


def test_name_that_does_not_resolve(tmp_path, edge_up):
    result = run(tmp_path, profile(api_url=f"https://missing.{config.ZONE}:{P['https']}"), "-m", "http")
    _http_errors(result, f"missing.{config.ZONE} does not resolve (127.0.0.1:{P['dns']}: NXDOMAIN)")
    assert result.outcome("10.2.4") == "passed"   # the run goes on: other targets are read


def test_connection_reset(tmp_path, edge_up):
    sock = _resetting_server()
    try:
        port = sock.getsockname()[1]
        result = run(tmp_path, profile(api_url=f"https://api.{config.ZONE}:{port}"), "-m", "http")
    finally:
        sock.close()
    _http_errors(result, "Connection reset by peer")


def test_502_from_nginx(tmp_path, edge_up):
    result = run(tmp_path, profile(api_url=f"https://gone.{config.ZONE}:{P['drift_https']}", nameservers=DNS_DRIFT),
                 "-m", "http")
    _http_errors(result, "502 Bad Gateway from the proxy")


@pytest.mark.parametrize(("mode", "phrase", "items"), [
    # /health itself loops: the first request fails, and with it every item of the target
    ("loop", "redirect loop: more than 5 redirects", ["3.1.4", "5.2.1", "9.1.1", "9.2.1"]),
    # /health answers; the OpenAPI document is 30 MB, or an HTML page
    ("big", "response body over the client's limit of 5,242,880 bytes", ["9.1.1", "6.2.3", "5.2.4"]),
    ("html", "expected a JSON body, got Content-Type text/html", ["9.1.1", "6.2.3", "5.2.4"]),
])
def test_bad_responses(tmp_path, edge_up, mode, phrase, items):
    server = _serve(mode)
    try:
        api = f"http://api.{config.ZONE}:{server.server_address[1]}"
        result = run(tmp_path, profile(api_url=api, health_urls=[api + "/health"]), "-m", "http")
    finally:
        server.shutdown()
    for item in items:
        assert result.outcome(item) == "error", (item, result.outcome(item), result.reason(item))
        assert phrase in result.reason(item), (item, result.reason(item))
    if mode != "loop":
        assert result.outcome("9.2.1") == "passed"   # the status page is read all the same


def test_unknown_ca(tmp_path, edge_up):
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    result = run(tmp_path, profile(ca_bundle=str(other)), "-m", "http or tls")
    _http_errors(result, "CERTIFICATE_VERIFY_FAILED")
    assert result.outcome("1.1.8") == "failed"
    assert "unable to get local issuer certificate" in result.reason("1.1.8")


def test_profiles_are_valid_toml():
    import tomllib

    for text in (profile(), drifted()):
        tomllib.loads(text)
    assert subprocess.run([sys.executable, "-c", "import sandbox.edge"], cwd=ROOT).returncode == 0


# --------------------------------------------------------------------------- statement log

def test_checker_writes_nothing_to_postgres(tmp_path_factory, tmp_path, edge_up):
    """The API of the edge on a PostgreSQL of our own with log_statement = 'all': during a full run of the
    http checks (sign-in, validation probes, the under-13 signup) the API writes nothing."""
    from netutil import free_port
    from sandbox import postgres as pg
    from sandbox.common import read_env_file, spawn, stop_pid, wait_port

    base = tmp_path_factory.mktemp("edge-pg")
    log = base / "statements.log"
    pg_port, api_port = free_port(), free_port()
    handle = pg.start_primary(base / "data", pg_port, log_file=log,
                              settings_overrides={"log_statement": "all", "log_line_prefix": "%m user=%u db=%d "})
    creds = read_env_file(ROOT / ".sandbox" / "credentials.env")
    env = {"PATH": "/usr/bin:/bin", "PORT": str(api_port), "PGHOST": "127.0.0.1", "PGPORT": str(pg_port),
           "PGUSER": "apex_app", "PGPASSWORD": creds["APEX_PG_APP_PASSWORD"], "REDIS_PORT": str(26379),
           "REDIS_USER": "apex_checker", "REDIS_PASSWORD": creds["APEX_REDIS_CHECKER_PASSWORD"],
           "APEX_CONSOLE_ORIGIN": config.origin("console")}
    proc = spawn(["node", str(ROOT / "sandbox" / "edge" / "api" / "server.js")], log_file=base / "api.log",
                 pidfile=base / "api.pid", env=env)
    try:
        wait_port(api_port, 30, pid=proc.pid, what="edge API")
        status, _ = edge._post(api_port, "/api/v1/auth/signup", {   # set-up: the sandbox writes the account
            "email": edge.CHECKER_EMAIL, "password": creds[edge.CHECKER_PASSWORD_VAR], "birthDate": "1990-04-01",
            "company": edge.TEST_CUSTOMER})
        assert status == 201
        start = log.stat().st_size
        api = f"http://127.0.0.1:{api_port}"
        result = run(tmp_path, profile(api_url=api, health_urls=[api + "/health"]), "-m", "http")
        text = log.read_text(errors="replace")[start:]
    finally:
        stop_pid(proc.pid, kill_group=True, timeout=10)
        handle.stop()
    assert result.outcome("5.3.2") == "passed", result.reason("5.3.2")
    assert result.outcome("5.2.4") == "passed", result.reason("5.2.4")
    statements = re.findall(r"user=apex_app db=\S+ LOG:  (?:statement|execute [^:]*): (.*)", text)
    assert any("FROM users" in s for s in statements), text[-2000:]   # the sign-in read is logged
    writes = [s for s in statements if re.match(r"\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE|COPY|"
                                                r"BEGIN)", s, re.IGNORECASE)]
    assert writes == []
