"""DNS through dnspython: queries to named servers, never the system resolver's cache
(``socket.gethostbyname`` would hide which server answered what).

The other edge clients (``http``, ``tls``) resolve their host names with :func:`resolve_address`
when their profile table names ``nameservers``, so that the sandbox needs no ``/etc/hosts`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..outcomes import TargetUnavailable
from . import Target

__all__ = ["Answer", "Dns", "is_address", "parse_server", "pinned_address", "resolve_address"]


def parse_server(text: str) -> tuple[str, int]:
    """``"192.0.2.1"`` or ``"192.0.2.1:5353"`` -> (address, port)."""
    host, sep, port = text.rpartition(":")
    if sep and host and port.isdigit() and host.count(":") == 0:
        return host, int(port)
    return text, 53


@dataclass(frozen=True)
class Answer:
    """What one server said about one name: rcode, the records (CNAME chain then addresses) and TTLs."""

    server: str
    name: str
    rcode: str
    records: tuple[tuple[str, str, int], ...]   # (type, value, ttl), in answer order

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for _, v, _ in self.records)

    def first(self, rtype: str) -> tuple[str, int] | None:
        return next(((v, t) for k, v, t in self.records if k == rtype), None)

    def describe(self) -> str:
        if self.rcode != "NOERROR":
            return self.rcode
        return ", ".join(f"{k} {v} (TTL {t})" for k, v, t in self.records) or "no records"


def query(server: str, name: str, rtype: str, timeout: float) -> Answer:
    """One UDP query (TCP when truncated) to one server; network errors propagate."""
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    address, port = parse_server(server)
    request = dns.message.make_query(name, rtype)
    response = dns.query.udp(request, address, port=port, timeout=timeout)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(request, address, port=port, timeout=timeout)
    records: list[tuple[str, str, int]] = []
    for rrset in response.answer:
        for rdata in rrset:
            records.append((dns.rdatatype.to_text(rrset.rdtype), rdata.to_text().rstrip("."), rrset.ttl))
    return Answer(server, name.rstrip("."), dns.rcode.to_text(response.rcode()), tuple(records))


def resolve_address(name: str, nameservers: list[str], timeout: float) -> str:
    """The first A record of ``name`` (following CNAMEs) at the first server that answers.

    Raises :class:`LookupError` with the servers' answers when no address is found."""
    import dns.exception

    said: list[str] = []
    for server in nameservers:
        try:
            answer = query(server, name, "A", timeout)
        except (dns.exception.DNSException, OSError) as exc:
            said.append(f"{server}: {type(exc).__name__}")
            continue
        address = answer.first("A")
        if address:
            return address[0]
        said.append(f"{server}: {answer.describe()}")
    raise LookupError(f"{name} does not resolve ({'; '.join(said)})")


def is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def pinned_address(target: Target, cache: dict[str, str], host: str, fix: str) -> str:
    """The address to connect to for ``host``: looked up once (into ``cache``) at the target's own
    ``nameservers`` when it has any (a zone not yet delegated, a split horizon), else ``host`` itself for the
    system resolver. A name they do not resolve makes the target unavailable, ``fix`` saying what to do."""
    nameservers = [str(s) for s in target.settings.get("nameservers", [])]
    if not nameservers or is_address(host):
        return host
    if host not in cache:
        try:
            cache[host] = resolve_address(host, nameservers, target.timeout)
        except LookupError as exc:
            raise TargetUnavailable(target.name, host, f"{exc}; fix: {fix}") from None
    return cache[host]


class Dns(Target):
    """The zone's authoritative servers and the resolvers that must agree with them (read-only queries)."""

    @property
    def where(self) -> str:
        return f"zone {self.zone} at {', '.join(self.nameservers) or '?'}"

    @property
    def zone(self) -> str:
        return str(self.settings.get("zone", "")).rstrip(".")

    @property
    def nameservers(self) -> list[str]:
        return [str(s) for s in self.settings.get("nameservers", [])]

    @property
    def resolvers(self) -> list[str]:
        return [str(s) for s in self.settings.get("resolvers", [])]

    def fqdn(self, name: str) -> str:
        """``"api"`` -> ``"api.<zone>"``; a name with a dot is taken as it is."""
        name = name.rstrip(".")
        return name if "." in name or not self.zone else f"{name}.{self.zone}"

    def _connect(self) -> Any:
        if not self.zone or not self.nameservers:
            raise TargetUnavailable(self.name, self.where, "the profile's [targets.dns] needs `zone` and "
                                    "`nameservers`; fix: add them")
        import dns.exception

        # one SOA query to the first authoritative server: it must answer for the zone
        try:
            soa = query(self.nameservers[0], self.zone, "SOA", self.timeout)
        except (dns.exception.DNSException, OSError) as exc:
            raise TargetUnavailable(self.name, self.nameservers[0], f"{type(exc).__name__}: no answer to SOA "
                                    f"{self.zone} within {self.timeout:g} s (every item of this target is "
                                    "reported with this one reason)") from None
        if soa.rcode != "NOERROR" or not soa.first("SOA"):
            raise TargetUnavailable(self.name, self.nameservers[0], f"not authoritative for {self.zone}: "
                                    f"SOA query answered {soa.describe()}")
        return soa

    def _probe_read(self) -> None:
        """Nothing more: connecting already made one read (see _connect)."""

    def ask(self, server: str, name: str, rtype: str = "A") -> Answer:
        """What ``server`` says about ``name``; a server that does not answer is reported as TIMEOUT."""
        import dns.exception

        self.client()
        self._trace("dns", server, name, rtype)
        try:
            return query(server, self.fqdn(name), rtype, self.timeout)
        except (dns.exception.DNSException, OSError) as exc:
            return Answer(server, self.fqdn(name), f"no answer ({type(exc).__name__})", ())
