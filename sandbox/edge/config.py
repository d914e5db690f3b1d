"""Generated configuration of the sandbox edge: the trustme CA and certificates, nginx, Knot and the
status pages, all written under .sandbox/edge/ (git-ignored).

Two edges run side by side. The compliant one is what the checklist asks for; the drifted one
carries the drift the failing direction of every edge check needs (see README "The edge").
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

ZONE = "apexmediation.local"
NAMES = ("api", "console", "status", "cdn")
EDGE_ADDRESS = "127.0.0.1"
#: where the drifted zone still points `status` (nothing listens there)
OLD_ADDRESS = "127.0.0.10"

PORTS = {
    "https": 28443, "http": 28080, "api": 28300, "console": 28310, "dns": 25353,
    "drift_https": 27443, "drift_http": 27080, "drift_expired": 27444, "drift_wrong_name": 27445,
    "drift_expiring": 27446, "drift_api": 27300, "drift_api_cors": 27301, "drift_console": 27310,
    "drift_dns": 25354, "closed": 27399,
}
#: certificate lifetimes: like Let's Encrypt (90 days) for the compliant edge
CERT_DAYS = 90
EXPIRING_DAYS = 3
COMPONENTS_ON_STATUS_PAGE = ("API", "Console", "Database", "Cache", "CDN")


def host(name: str) -> str:
    return f"{name}.{ZONE}"


def origin(name: str, port: int = PORTS["https"]) -> str:
    return f"https://{host(name)}:{port}"


# ------------------------------------------------------------------ certificates

def write_certificates(directory: Path, now: dt.datetime | None = None) -> dict[str, Path]:
    """A CA (ca.pem) and leaf certificates, each with an explicit not_after (trustme's default is the
    year 3000). Returns name -> PEM file holding key and chain. A second, unknown CA signs `unknown`."""
    import trustme

    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="ApexMediation sandbox CA")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    everything = [host(n) for n in NAMES] + [f"gone.{ZONE}"]
    start = now - dt.timedelta(days=1)
    leaves = {
        "edge": ca.issue_cert(*everything, not_before=start, not_after=now + dt.timedelta(days=CERT_DAYS)),
        "expired": ca.issue_cert(*everything, not_before=now - dt.timedelta(days=120),
                                 not_after=now - dt.timedelta(days=30)),
        "wrong_name": ca.issue_cert("wrong.example.net", not_before=start,
                                    not_after=now + dt.timedelta(days=CERT_DAYS)),
        "expiring": ca.issue_cert(*everything, not_before=now - dt.timedelta(days=87),
                                  not_after=now + dt.timedelta(days=EXPIRING_DAYS)),
        "unknown_ca": trustme.CA(organization_name="Unknown CA").issue_cert(
            *everything, not_before=start, not_after=now + dt.timedelta(days=CERT_DAYS)),
    }
    paths = {}
    for name, leaf in leaves.items():
        path = directory / f"{name}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(leaf.private_key_pem.bytes())
            for blob in leaf.cert_chain_pems:
                fh.write(blob.bytes())
        paths[name] = path
    return paths


# ------------------------------------------------------------------ nginx

_COMMON = """
    proxy_http_version 1.1;
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto https;
    proxy_set_header Connection "";
"""
_HSTS = '    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;\n'


def _server(port: int, names: str, cert: Path, body: str, *, old_tls: bool = False) -> str:
    protocols = "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3" if old_tls else "TLSv1.2 TLSv1.3"
    # OpenSSL 3 will not negotiate TLS 1.0/1.1 at its default security level
    ciphers = "    ssl_ciphers DEFAULT:@SECLEVEL=0;\n" if old_tls else ""
    return (f"  server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name {names};\n"
            f"    ssl_certificate {cert};\n    ssl_certificate_key {cert};\n    ssl_protocols {protocols};\n"
            f"{ciphers}{body}  }}\n")


def _edge(https: int, http: int, api: int, console: int, status_root: Path, cert: Path, *, drifted: bool) -> str:
    hsts = "" if drifted else _HSTS
    cdn_cache = ('      proxy_hide_header Cache-Control;\n      add_header Cache-Control "public, max-age=0" always;\n'
                 if drifted else "")
    out = [
        _server(https, host("api"), cert, f"{_COMMON}    location /internal/ {{ return 404; }}\n"
                f"    location / {{ proxy_pass http://127.0.0.1:{api}; }}\n", old_tls=drifted),
        _server(https, host("console"), cert,
                f"{_COMMON}{hsts}    location / {{ proxy_pass http://127.0.0.1:{console}; }}\n",
                old_tls=drifted),
        _server(https, host("status"), cert, f"{hsts}    root {status_root};\n    index index.html;\n"
                '    add_header Cache-Control "public, max-age=30" always;\n', old_tls=drifted),
        _server(https, host("cdn"), cert, f"{_COMMON}{hsts}    location /_next/static/ {{\n"
                f"      proxy_pass http://127.0.0.1:{console};\n{cdn_cache}    }}\n    location / {{ return 404; }}\n",
                old_tls=drifted),
    ]
    if drifted:
        # plain HTTP still serves; and a name whose upstream is gone (502 from nginx)
        out.append(f"  server {{\n    listen 127.0.0.1:{http};\n    server_name _;\n"
                   "    location / { default_type text/plain; return 200 'plain http still served'; }\n  }\n")
        out.append(_server(https, f"gone.{ZONE}", cert, f"{_COMMON}    location / {{ proxy_pass "
                           f"http://127.0.0.1:{PORTS['closed']}; }}\n", old_tls=True))
    else:
        out.append(f"  server {{\n    listen 127.0.0.1:{http};\n    server_name _;\n"
                   f"    return 301 https://$host:{https}$request_uri;\n  }}\n")
    return "".join(out)


def nginx_conf(run_dir: Path, certs: Mapping[str, Path], status_dirs: Mapping[str, Path], *, user: str | None) -> str:
    p = PORTS
    status_ok, status_drift = status_dirs["compliant"], status_dirs["drifted"]
    tls_drift = "".join(
        _server(p[port], " ".join(host(n) for n in NAMES) + " " + f"gone.{ZONE}", certs[cert],
                f"    root {status_ok};\n    index index.html;\n")
        for port, cert in (("drift_expired", "expired"), ("drift_wrong_name", "wrong_name"),
                           ("drift_expiring", "expiring")))
    temp = run_dir / "tmp"
    return f"""# generated by `python -m sandbox up` (sandbox/edge/config.py); do not edit
{f"user {user};" if user else ""}
worker_processes 1;
daemon off;
pid {run_dir / "nginx.pid"};
error_log {run_dir / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
  include /etc/nginx/mime.types;
  # who sent what: the read-only proof of the checks reads this log
  log_format apex '$remote_addr [$time_iso8601] "$request_method $scheme://$host$request_uri" $status '
                  '$body_bytes_sent "$http_user_agent"';
  access_log {run_dir / "access.log"} apex;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  server_tokens off;
  ssl_session_cache off;
  proxy_connect_timeout 3s;
  proxy_read_timeout 30s;
{_edge(p["https"], p["http"], p["api"], p["console"], status_ok, certs["edge"], drifted=False)}
{_edge(p["drift_https"], p["drift_http"], p["drift_api"], p["drift_console"], status_drift, certs["edge"],
       drifted=True)}
{tls_drift}}}
"""


def status_pages(root: Path) -> dict[str, Path]:
    """The status page: every component and its state; the drifted one lists nothing."""
    rows = "".join(f'<tr><td class="component">{c}</td><td class="state">operational</td></tr>'
                   for c in COMPONENTS_ON_STATUS_PAGE)
    pages = {
        "compliant": f"<!doctype html><html><head><title>ApexMediation status</title></head><body>"
                     f"<h1>ApexMediation status</h1><table>{rows}</table></body></html>\n",
        "drifted": "<!doctype html><html><head><title>Status</title></head><body><h1>Status</h1>"
                   "<p>Coming soon.</p></body></html>\n",
    }
    out = {}
    for name, html in pages.items():
        d = root / f"status-{name}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "index.html").write_text(html)
        out[name] = d
    return out


# ------------------------------------------------------------------ Knot DNS

def zone_file(*, drifted: bool) -> str:
    """The sandbox zone: TTL 60 on the names a go-live cutover changes (api, console, cdn)."""
    cut = 86400 if drifted else 60
    other = 86400 if drifted else 300
    status = OLD_ADDRESS if drifted else EDGE_ADDRESS
    extra = f"gone {cut} A {EDGE_ADDRESS}\n" if drifted else ""
    return f"""$ORIGIN {ZONE}.
$TTL 3600
@ SOA ns1 hostmaster 2026010101 3600 900 604800 60
@ NS ns1
ns1 3600 A {EDGE_ADDRESS}
api {cut} A {EDGE_ADDRESS}
console {cut} A {EDGE_ADDRESS}
cdn {cut} CNAME cdn-edge
cdn-edge {other} A {EDGE_ADDRESS}
status {other} A {status}
{extra}"""


def knot_conf(directory: Path, port: int) -> str:
    return f"""# generated by `python -m sandbox up` (sandbox/edge/config.py); do not edit
server:
    rundir: "{directory / 'run'}"
    listen: 127.0.0.1@{port}
database:
    storage: "{directory / 'db'}"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "{directory}"
    file: "%s.zone"
    semantic-checks: on
zone:
  - domain: {ZONE}
"""
