"""The DSSE v1 envelope and its pre-authentication encoding (PAE), written out by hand.

Specification: https://github.com/secure-systems-lab/dsse (protocol.md, envelope.md). It is a few
lines, and this version is stricter than a general-purpose library on purpose, because the
record is verified byte for byte: exactly one signature, exactly the keys ``payloadType``,
``payload``, ``signatures`` (and ``keyid``, ``sig``), our payload type only, and only the
canonical standard base64 of the bytes (the specification lets verifiers accept URL-safe base64
too; we never write it, so accepting it would only let a record change without its signature
noticing).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["PAYLOAD_TYPE", "b64", "make_envelope", "open_envelope", "pae", "unb64"]

#: the payloadType of a section sign-off
PAYLOAD_TYPE = "application/vnd.apexready.signoff+json"


def pae(payload_type: str, body: bytes) -> bytes:
    """``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths as decimal byte counts."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any) -> bytes:
    """Strict base64: only the canonical standard encoding of some bytes is accepted."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if b64(data) != text:
        raise ValueError("not canonical base64")
    return data


def make_envelope(key: Ed25519PrivateKey, keyid: str, body: bytes, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    """Sign ``body`` with ed25519 over its PAE."""
    return {"payloadType": payload_type, "payload": b64(body),
            "signatures": [{"keyid": keyid, "sig": b64(key.sign(pae(payload_type, body)))}]}


def open_envelope(envelope: Any, payload_type: str = PAYLOAD_TYPE) -> tuple[bytes, str, bytes]:
    """(body, keyid, signature) of an envelope of ours; ValueError saying what is wrong otherwise.

    It does not check the signature: the caller picks the key (by keyid, from the trust list) and
    verifies ``signature`` over ``pae(payload_type, body)``.
    """
    if not isinstance(envelope, dict) or set(envelope) != {"payloadType", "payload", "signatures"}:
        raise ValueError("envelope must have exactly payloadType, payload, signatures")
    if envelope["payloadType"] != payload_type:
        raise ValueError(f"payloadType is not {payload_type}")
    sigs = envelope["signatures"]
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict) \
            or set(sigs[0]) != {"keyid", "sig"}:
        raise ValueError("envelope must carry exactly one {keyid, sig}")
    try:
        body, sig = unb64(envelope["payload"]), unb64(sigs[0]["sig"])
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise ValueError(f"bad base64 ({exc})") from None
    return body, str(sigs[0]["keyid"]), sig
