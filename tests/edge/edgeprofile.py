"""Profiles for the edge self-tests: the compliant edge, the drifted one, and bad-input variants."""

from __future__ import annotations

import json

from sandbox.edge import config

P = config.PORTS
Z = config.ZONE
DNS_OK = f"127.0.0.1:{P['dns']}"
DNS_DRIFT = f"127.0.0.1:{P['drift_dns']}"
RECORDS = {"api": "127.0.0.1", "console": "127.0.0.1", "status": "127.0.0.1", "cdn": f"cdn-edge.{Z}"}


def _toml(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def profile(*, https: int = P["https"], api_url: str | None = None, nameservers: str = DNS_OK,
            tls_endpoints: list[str] | None = None, http_port: int = P["http"], dns_servers: list[str] | None = None,
            resolvers: list[str] | None = None, ca_bundle: str = ".sandbox/edge/ca.pem",
            customer: str = "checker@apexmediation.local", health_urls: list[str] | None = None,
            http_extra: dict[str, object] | None = None, console_url: str | None = None,
            top: str = "", expect_extra: dict[str, object] | None = None) -> str:
    """TOML text of a profile reading the edge on ``https`` (the compliant edge by default)."""
    def url(name: str) -> str:
        return f"https://{name}.{Z}:{https}"

    http = {"api_url": api_url or url("api"), "console_url": console_url or url("console"), "status_url": url("status"),
            "cdn_url": url("cdn"), "ca_bundle": ca_bundle, "nameservers": [nameservers],
            "checker_email": "checker@apexmediation.local", "checker_password": "${APEX_HTTP_CHECKER_PASSWORD}",
            "health_urls": health_urls or [(api_url or url("api")) + "/health", url("console") + "/api/health"],
            "connect_timeout": 3, "read_timeout": 10, **(http_extra or {})}
    tls = {"endpoints": tls_endpoints or [f"{n}.{Z}:{https}" for n in config.NAMES], "ca_bundle": ca_bundle,
           "nameservers": [nameservers], "http_port": http_port, "connect_timeout": 3}
    dns = {"zone": Z, "nameservers": dns_servers or [DNS_OK], "resolvers": resolvers or [DNS_OK], "connect_timeout": 2}
    lines = [*([top] if top else []), 'description = "edge self-test"', 'env_file = ".sandbox/credentials.env"', "",
             "[targets.postgres]", 'host = "127.0.0.1"', "port = 25432", 'dbname = "apexmediation"',
             'user = "apex_checker"', 'password = "${APEX_PG_CHECKER_PASSWORD}"', "connect_timeout = 3", ""]
    for name, table in (("http", http), ("tls", tls), ("dns", dns)):
        lines.append(f"[targets.{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
        lines.append("")
    lines += ["[expectations]", f"test_customer_email = {_toml(customer)}", f"dns_records = {_toml(RECORDS)}",
              *(f"{k} = {_toml(v)}" for k, v in (expect_extra or {}).items()), "",
              "[absent]", 'k8s = "edge self-test: the Kubernetes halves are tested in tests/k8s"',
              'aws = "edge self-test: the AWS halves are tested with moto"', ""]
    return "\n".join(lines)


def drifted() -> str:
    """The drifted edge: drifted API and console behind nginx on the drift port, certificates that are expired,
    for the wrong name or about to expire, TLS 1.0 accepted on cdn, plain HTTP served, the drifted zone."""
    https = P["drift_https"]
    return profile(https=https, http_port=P["drift_http"],
                   tls_endpoints=[f"api.{Z}:{P['drift_expired']}", f"console.{Z}:{P['drift_wrong_name']}",
                                  f"status.{Z}:{P['drift_expiring']}", f"cdn.{Z}:{https}"],
                   dns_servers=[DNS_DRIFT], resolvers=[DNS_OK, DNS_DRIFT], customer="nobody@apexmediation.local")
