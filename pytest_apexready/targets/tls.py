"""TLS endpoints through the standard ``ssl`` module: the certificate each name serves, whether it
verifies against the CA bundle, which protocol versions the server still accepts, and (over plain
HTTP and HTTPS, with ``http.client``) the redirect to HTTPS and the HSTS header. Handshakes and
HEAD requests only: read-only.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import socket
import ssl
import warnings
from dataclasses import dataclass
from typing import Any

from ..outcomes import TargetUnavailable
from . import Target

__all__ = ["OLD_PROTOCOLS", "Endpoint", "Served", "Tls"]

#: protocol versions a compliant server refuses (TLS 1.2 and later only)
OLD_PROTOCOLS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}


@dataclass(frozen=True)
class Endpoint:
    name: str       # the SNI name and the name the certificate must match
    port: int

    @property
    def label(self) -> str:
        return f"{self.name}:{self.port}"


@dataclass(frozen=True)
class Served:
    """What one endpoint served: the certificate's facts and the result of verifying it."""

    endpoint: Endpoint
    protocol: str
    subject_names: tuple[str, ...]
    not_after: dt.datetime
    issuer: str
    verify_error: str | None        # None when chain and name verify against the CA bundle

    def days_left(self, now: dt.datetime | None = None) -> float:
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).total_seconds() / 86400


class Tls(Target):
    """The ``host:port`` endpoints of ``[targets.tls]``, verified against its ``ca_bundle``."""

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self._served: dict[Endpoint, Served] = {}
        self._addresses: dict[str, str] = {}

    @property
    def where(self) -> str:
        return ", ".join(e.label for e in self.endpoints) or "no endpoints"

    @property
    def endpoints(self) -> list[Endpoint]:
        out = []
        for text in self.settings.get("endpoints", []):
            host, _, port = str(text).rpartition(":")
            out.append(Endpoint(host, int(port)) if port.isdigit() else Endpoint(str(text), 443))
        return out

    def _address(self, host: str) -> str:
        from .dns import pinned_address

        return pinned_address(self, self._addresses, host,
                              f"create the record or correct endpoints in [targets.{self.name}]")

    def _verifying_context(self) -> ssl.SSLContext:
        ca = self.settings.get("ca_bundle")
        if ca and not os.path.isfile(ca):
            raise TargetUnavailable(self.name, str(ca),
                                    f"ca_bundle: no such file; fix the path in [targets.{self.name}]")
        return ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()

    def _connect(self) -> Any:
        if not self.endpoints:
            raise TargetUnavailable(self.name, "endpoints", f"[targets.{self.name}] lists no endpoints; fix: add "
                                    '"host:port" entries')
        first = self.endpoints[0]
        # one TCP connect to the first endpoint: an unreachable edge costs one timeout for every item
        try:
            socket.create_connection((self._address(first.name), first.port), timeout=self.timeout).close()
        except OSError as exc:
            raise TargetUnavailable(self.name, first.label, f"{type(exc).__name__}: {exc} (connect timeout "
                                    f"{self.timeout:g} s; every item of this target is reported with this one reason)"
                                    ) from None
        return self._verifying_context()

    def _probe_read(self) -> None:
        """One TLS handshake with the first endpoint (a server that accepts TCP and never answers is caught here)."""
        self.served(self.endpoints[0])

    def _handshake(self, ep: Endpoint, ctx: ssl.SSLContext) -> ssl.SSLSocket:
        raw = socket.create_connection((self._address(ep.name), ep.port), timeout=self.timeout)
        try:
            return ctx.wrap_socket(raw, server_hostname=ep.name)
        except BaseException:
            raw.close()
            raise

    def served(self, ep: Endpoint) -> Served:
        """The certificate ``ep`` serves and whether it verifies (cached for the run)."""
        if ep in self._served:
            return self._served[ep]
        from cryptography import x509

        verifying: ssl.SSLContext = self.client()
        self._trace("tls", ep.label)
        verify_error = None
        try:
            self._handshake(ep, verifying).close()
        except ssl.SSLCertVerificationError as exc:
            verify_error = exc.verify_message or str(exc)
        except (ssl.SSLError, OSError) as exc:
            raise TargetUnavailable(self.name, ep.label, f"TLS handshake failed: {type(exc).__name__}: {exc}") from None
        # read the certificate itself without verification, to report what was served
        loose = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        loose.check_hostname = False
        loose.verify_mode = ssl.CERT_NONE
        try:
            with self._handshake(ep, loose) as sock:
                der = sock.getpeercert(binary_form=True) or b""
                protocol = sock.version() or "?"
        except (ssl.SSLError, OSError) as exc:
            raise TargetUnavailable(self.name, ep.label, f"TLS handshake failed: {type(exc).__name__}: {exc}") from None
        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple(san.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
        served = Served(ep, protocol, names, cert.not_valid_after_utc, cert.issuer.rfc4514_string(), verify_error)
        self._served[ep] = served
        return served

    def accepts(self, ep: Endpoint, version: str) -> bool:
        """Does ``ep`` complete a handshake limited to ``version`` (e.g. ``"TLSv1"``)?"""
        self.client()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")   # OpenSSL 3 refuses TLS 1.0/1.1 at the default level
        with warnings.catch_warnings():          # deprecated is the point: the server must refuse them
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = OLD_PROTOCOLS[version]
        try:
            self._handshake(ep, ctx).close()
        except (ssl.SSLError, ConnectionError):
            return False
        except OSError as exc:
            raise TargetUnavailable(self.name, ep.label, f"{type(exc).__name__}: {exc}") from None
        return True

    def head(self, ep: Endpoint, *, plain: bool = False) -> tuple[int, dict[str, str]]:
        """``HEAD /`` over HTTPS (verified) or, with ``plain``, over HTTP on ``http_port``: status and headers."""
        ctx: ssl.SSLContext = self.client()
        port = int(self.settings.get("http_port", 80)) if plain else ep.port
        conn: http.client.HTTPConnection
        if plain:
            conn = http.client.HTTPConnection(self._address(ep.name), port, timeout=self.timeout)
        else:
            conn = http.client.HTTPSConnection(ep.name, port, timeout=self.timeout, context=ctx)
        try:
            if not plain:
                conn.sock = self._handshake(ep, ctx)
            conn.putrequest("HEAD", "/", skip_host=True)
            conn.putheader("Host", ep.name if port in (80, 443) else f"{ep.name}:{port}")
            conn.putheader("User-Agent", "pytest-apexready (read-only checker)")
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}
        except (OSError, http.client.HTTPException) as exc:
            scheme = "http" if plain else "https"
            raise TargetUnavailable(self.name, f"{scheme}://{ep.name}:{port}/",
                                    f"{type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
