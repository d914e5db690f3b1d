"""The control plane's PKI: a CA, serving and client certificates, kubeconfigs (``cryptography``)."""
from __future__ import annotations

import datetime as _dt
import ipaddress
import json
from pathlib import Path

SERVICE_CIDR = "10.96.0.0/16"


def _pki():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    return x509, hashes, serialization, ec, rsa, ExtendedKeyUsageOID, NameOID


def _write_key(path: Path, key) -> None:
    _, _, serialization, *_ = _pki()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _load_key(path: Path):
    _, _, serialization, *_ = _pki()
    return serialization.load_pem_private_key(path.read_bytes(), None)


def ensure_pki(data_dir: Path) -> Path:
    """Create CA, serving cert, client certs and SA key pair (only what is missing)."""
    x509, hashes, serialization, ec, rsa, EKU, NameOID = _pki()
    pki = data_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.UTC) - _dt.timedelta(minutes=5)
    until = now + _dt.timedelta(days=365)

    def name(cn, org=None):
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if org:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        return x509.Name(attrs)

    if not (pki / "ca.crt").exists() or not (pki / "ca.key").exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (x509.CertificateBuilder().subject_name(name("apex-sandbox-ca"))
              .issuer_name(name("apex-sandbox-ca")).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now).not_valid_after(now + _dt.timedelta(days=3650))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False,
                                           encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        _write_key(pki / "ca.key", ca_key)
        (pki / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        for p in pki.glob("*.crt"):  # everything else must be re-issued
            if p.name != "ca.crt":
                p.unlink()
    ca_key = _load_key(pki / "ca.key")
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())

    def issue(stem, cn, org=None, server=False, sans=()):
        if (pki / f"{stem}.crt").exists() and (pki / f"{stem}.key").exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name(cn, org)).issuer_name(ca.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(until)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                          content_commitment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=False, crl_sign=False,
                                          encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([EKU.SERVER_AUTH if server else EKU.CLIENT_AUTH]),
                            critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                            critical=False))
        if sans:
            alt = []
            for s in sans:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(s)))
                except ValueError:
                    alt.append(x509.DNSName(s))
            b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        _write_key(pki / f"{stem}.key", key)
        (pki / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    first_svc_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
    issue("apiserver", "kube-apiserver", server=True,
          sans=("127.0.0.1", "localhost", first_svc_ip, "kubernetes", "kubernetes.default",
                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"))
    issue("serving-localhost", "localhost", server=True, sans=("127.0.0.1", "localhost"))
    issue("admin", "apex-admin", org="system:masters")
    issue("kube-controller-manager", "system:kube-controller-manager")
    issue("kube-scheduler", "system:kube-scheduler")
    issue("kwok", "apex-kwok")  # bound to cluster-admin by bootstrap_rbac()
    issue("apex-checker", "apex-checker")
    if not (pki / "sa.key").exists():
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(pki / "sa.key", sa)
        (pki / "sa.pub").write_bytes(sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, user: str) -> Path:
    cfg = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "apex-sandbox", "cluster": {
            "server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": f"{user}@apex-sandbox",
                      "context": {"cluster": "apex-sandbox", "user": user}}],
        "current-context": f"{user}@apex-sandbox",
    }
    path.write_text(json.dumps(cfg, indent=2) + "\n")  # JSON is valid kubeconfig YAML
    path.chmod(0o600)
    return path
