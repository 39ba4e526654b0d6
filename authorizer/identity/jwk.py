"""One published JSON Web Key as a key that verifies JWS signatures (RFC 7517, RFC 7518 §3.3-3.4,
§6.2-6.3), for the two algorithms the authorizer accepts: RS256 and ES256.

Written on ``cryptography`` directly: PyJWT's ``PyJWK`` did this until stop 22, but importing
PyJWT imports its JWKS client and ``cryptography.x509`` with it, about 20 ms of a cold start
(``make bench``, in turns: ``import cedarpy, jwt`` 71.8 ms against 52.2 ms for cedarpy, the
primitives below and urllib), for two key types whose reading is a few lines. Which members
of a key set may verify at all (``use``, ``key_ops``, private parameters, short keys) is
``authorizer.identity.jwks``'s to say.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from authorizer.records import NamedTuple

__all__ = ["VerifyingKey", "verifying_key"]

P256_BYTES = 32  # a P-256 coordinate, and each half of an ES256 signature (RFC 7518 §3.4)
_URL_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# base64url as RFC 7515 wants it, and as issuers publish it too: padded, or in the standard
# alphabet (Firebase, Cloud Foundry UAA, Atlassian publish `n` padded). The key set is the
# issuer's own document, fetched over TLS from its URL: tolerance costs nothing there, where a
# token's segments are read strictly.
_BASE64_ANY = re.compile(r"[A-Za-z0-9_+/-]+=*\Z")


class VerifyingKey(NamedTuple):
    """A public key and the one algorithm it verifies (the token's ``alg`` is bound to it)."""

    kid: str  # as the key set names it ("": the one key of a set without kids)
    alg: str  # "RS256" or "ES256"
    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (as the token carries it, decoded) signs ``signing_input``.
        Never raises for a bad signature, whatever its length or content."""
        try:
            if isinstance(self.public, rsa.RSAPublicKey):
                self.public.verify(signature, signing_input, padding.PKCS1v15(), SHA256())
            else:  # JWS carries r || s, fixed width; cryptography takes DER
                if len(signature) != 2 * P256_BYTES:
                    return False
                r = int.from_bytes(signature[:P256_BYTES], "big")
                s = int.from_bytes(signature[P256_BYTES:], "big")
                self.public.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(SHA256()))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def verifying_key(kid: str, member: Mapping[str, Any], alg: str) -> VerifyingKey:
    """The public key of a JWK whose type ``alg`` needs (RSA for RS256, EC P-256 for ES256, as
    the caller has checked). ``ValueError`` when its parameters are missing, not canonical
    base64url, or not a valid key (cryptography checks the RSA numbers and the curve point)."""
    if alg == "RS256":
        n, e = _unsigned(member, "n"), _unsigned(member, "e")
        return VerifyingKey(kid, alg, rsa.RSAPublicNumbers(e, n).public_key())
    if alg == "ES256":
        x, y = _octets(member, "x"), _octets(member, "y")
        if len(x) != P256_BYTES or len(y) != P256_BYTES:  # RFC 7518 §6.2.1.2: full width
            raise ValueError(f"P-256 coordinates are {P256_BYTES} bytes")
        point = b"\x04" + x + y  # SEC 1 uncompressed: checked to be on the curve
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        return VerifyingKey(kid, alg, public)
    raise ValueError(f"no key type for {alg}")


def _unsigned(member: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(_octets(member, name), "big")


def _octets(member: Mapping[str, Any], name: str) -> bytes:
    """A JWK parameter's bytes: base64url (RFC 7515 §2), padded or in the standard alphabet too
    (``_BASE64_ANY``), nothing else: no whitespace, no number, no other character."""
    value = member.get(name)
    if not isinstance(value, str) or not _BASE64_ANY.match(value):
        raise ValueError(f"{name} is not base64url")
    value = value.rstrip("=")
    encoded = value.encode("ascii").translate(_URL_TO_STANDARD) + b"=" * (-len(value) % 4)
    try:
        return binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:  # a length no base64 has (one character over a multiple of four)
        raise ValueError(f"{name} is not base64url") from None
