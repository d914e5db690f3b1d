"""The trust list: ``KEYS_DIR/trust.toml`` names the public keys a verifier trusts and the roles each may sign for."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .common import SigningError
from .keys import fingerprint, load_public_key

__all__ = ["TrustedKey", "add_trust", "load_trust"]


@dataclass(frozen=True, slots=True)
class TrustedKey:
    file: str
    fingerprint: str
    roles: tuple[str, ...]
    key: Ed25519PublicKey
    pem: bytes


def load_trust(keys_dir: Path) -> dict[str, TrustedKey]:
    """``KEYS_DIR/trust.toml``: ``[[key]] file = "alice.pub"  roles = ["Database Admin"]``, by fingerprint."""
    path = keys_dir / "trust.toml"
    if not path.is_file():
        raise SigningError(f"{path} not found: list the trusted keys there as [[key]] file = \"NAME.pub\", "
                           "roles = [\"ROLE\", ...]  (apexready trust adds one)")
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SigningError(f"{path} is not valid TOML: {exc}") from None
    trusted: dict[str, TrustedKey] = {}
    for n, entry in enumerate(data.get("key", []), 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) \
                or not isinstance(entry.get("roles"), list) or not all(isinstance(r, str) for r in entry["roles"]):
            raise SigningError(f"{path} [[key]] #{n}: needs file = \"NAME.pub\" and roles = [\"ROLE\", ...]")
        pem_path = keys_dir / entry["file"]
        try:
            pem = pem_path.read_bytes()
        except OSError as exc:
            raise SigningError(f"{path} [[key]] #{n}: cannot read {pem_path}: {exc.strerror}") from None
        key = load_public_key(pem, str(pem_path))
        fp = fingerprint(key)
        if "fingerprint" in entry and entry["fingerprint"] != fp:
            raise SigningError(f"{path} [[key]] #{n}: {entry['file']} has fingerprint {fp}, "
                               f"not the pinned {entry['fingerprint']}")
        if fp in trusted:  # one key listed twice: it may sign for the roles of both entries
            roles = tuple(dict.fromkeys(trusted[fp].roles + tuple(entry["roles"])))
            trusted[fp] = TrustedKey(trusted[fp].file, fp, roles, key, pem)
        else:
            trusted[fp] = TrustedKey(entry["file"], fp, tuple(entry["roles"]), key, pem)
    return trusted


def add_trust(keys_dir: Path, public_key_file: Path, roles: list[str]) -> tuple[Path, str]:
    """Copy a public key into KEYS_DIR and trust it for ``roles`` (appends to trust.toml, pinning its fingerprint)."""
    key = load_public_key(public_key_file.read_bytes(), str(public_key_file))
    fp = fingerprint(key)
    keys_dir.mkdir(parents=True, exist_ok=True)
    dest = keys_dir / public_key_file.name
    if dest.resolve() != public_key_file.resolve():
        if dest.exists() and dest.read_bytes() != public_key_file.read_bytes():
            raise SigningError(f"{dest} exists and holds another key")
        dest.write_bytes(public_key_file.read_bytes())
    trust = keys_dir / "trust.toml"
    text = trust.read_text("utf-8") if trust.exists() else "# trusted sign-off keys (apexready verify --trust)\n"
    text += (f"\n[[key]]\nfile = {json.dumps(dest.name)}\nfingerprint = {json.dumps(fp)}\n"
             f"roles = [{', '.join(json.dumps(r) for r in roles)}]\n")
    trust.write_text(text, "utf-8")
    return dest, fp
