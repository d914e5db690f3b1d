"""ed25519 keys: make, write (private key mode 0600), load from a file or an environment variable, fingerprint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .common import SigningError, sha256_tag

__all__ = [
    "fingerprint",
    "generate_keypair",
    "load_private_key",
    "load_public_key",
    "public_keys_for_archive",
    "public_pem",
    "write_keypair",
]


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``sha256:`` + hex SHA-256 of the DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return sha256_tag(der)


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_keypair(passphrase: bytes | None = None) -> tuple[bytes, bytes, str]:
    """(private PEM, encrypted when a passphrase is given; public PEM; fingerprint)."""
    key = Ed25519PrivateKey.generate()
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    return private_pem, public_pem(key.public_key()), fingerprint(key.public_key())


def write_keypair(prefix: Path, passphrase: bytes | None = None, force: bool = False) -> tuple[Path, Path, str]:
    """Write ``PREFIX.key`` (mode 0600) and ``PREFIX.pub``; return both paths and the fingerprint."""
    private_pem, pub_pem, fp = generate_keypair(passphrase)
    key_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for p in (key_path, pub_path):
        if p.exists() and not force:
            raise SigningError(f"{p} exists; pass --force to replace it")
    key_path.parent.mkdir(parents=True, exist_ok=True)
    if force and key_path.exists():
        key_path.unlink()
    # created 0600 from the start: the key is never readable by others, not even for a moment
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private_pem)
    finally:
        os.close(fd)
    pub_path.write_bytes(pub_pem)
    return key_path, pub_path, fp


def load_private_key(spec: str, passphrase: bytes | None = None,
                     environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    """``spec`` is a path to a PEM file, or ``env:VAR`` for a PEM held in an environment variable.

    Errors name where the key was read from, never its content or the passphrase.
    """
    env = os.environ if environ is None else environ
    if spec.startswith("env:"):
        var = spec[4:]
        if not env.get(var):
            raise SigningError(f"environment variable {var} (signing key) is not set or empty")
        data, where = env[var].encode("utf-8"), f"environment variable {var}"
    else:
        path = Path(spec)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read signing key {path}: {exc.strerror}") from None
        where = str(path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        if passphrase:
            raise SigningError(f"the signing key in {where} is not encrypted; do not give a passphrase") from None
        raise SigningError(f"the signing key in {where} is encrypted; give its passphrase "
                           "(--passphrase-env VAR, or --apex-sign-passphrase-env VAR in pytest)") from None
    except ValueError:
        raise SigningError(f"cannot load the signing key in {where}: not a PEM private key, "
                           "or the passphrase is wrong") from None
    except Exception:  # unsupported algorithms and the like; never echo the data
        raise SigningError(f"cannot load the signing key in {where}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"the signing key in {where} is not an ed25519 key")
    return key


def load_public_key(data: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:  # any parse failure means the same to the user; the data is not echoed
        raise SigningError(f"{where} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{where} is not an ed25519 public key")
    return key


def public_keys_for_archive(key: Ed25519PrivateKey) -> dict[str, str]:
    """``{fingerprint: public PEM}`` of a signing key, for the archive's ``public_keys``."""
    return {fingerprint(key.public_key()): public_pem(key.public_key()).decode("ascii")}
