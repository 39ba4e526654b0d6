"""Bearer token -> verified claims (docs/architecture.md, The request path).

Decode and validate apart (joserfc's model): the token's shape and header are checked before
any key is fetched; the key set's key verifies the signature (``authorizer.identity.jwk``, the
alg bound to the key); the issuer, the registered claims' types and times are checked here,
against an injectable clock.
"""

from __future__ import annotations

import binascii
import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from authorizer.config import Settings
from authorizer.errors import InvalidToken
from authorizer.identity.jwk import VerifyingKey
from authorizer.identity.jwks import NO_KID, KeySource
from authorizer.issuer_settings import IssuerSettings
from authorizer.limits import INCOMPLETE_CLAIM, MAX_CLAIM_DEPTH, MAX_TOKEN_LENGTH
from authorizer.records import NamedTuple
from authorizer.strict_json import no_duplicate_keys

Claims = Mapping[str, Any]
TokenKind = Literal["access", "id"]

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+\Z")
_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_HEADER_LENGTH = 1024  # base64url characters; a real header is ~100
MAX_KID_LENGTH = 256
# Header parameters that let a token name its own key, demand unknown processing or announce a
# nested JWT (`cty`: Cognito never sets it, and a nested token is not what we verify): refused.
# A thumbprint (`x5t`, `x5t#S256`; Entra ID's v1.0 tokens carry `x5t`) brings no key: the key
# is still the key set's under `kid`, so it is read as the hint it is, and ignored.
_FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "jwk", "x5u", "x5c", "crit", "b64", "cty"})
# NumericDate bounds: the epoch to the end of year 9999. Larger integers are valid JSON but
# overflow a float and a datetime; no real token carries them.
_MAX_NUMERIC_DATE = 253_402_300_799


class VerifiedToken(NamedTuple):
    claims: Claims
    kind: TokenKind
    kid: str
    alg: str


Decoded = tuple[dict[str, Any], dict[str, Any]]  # decode_unverified's header and payload


class TokenVerifier:
    """Verifies the tokens of one issuer (``issuer``: default, the first of ``settings``) with
    its keys; the algorithms and leeway are the authorizer's (``settings``)."""

    def __init__(
        self,
        settings: Settings,
        keys: KeySource,
        clock: Callable[[], float] = time.time,
        issuer: IssuerSettings | None = None,
    ) -> None:
        self._settings = settings
        self._issuer = issuer or settings.trusted_issuers[0]
        self._cognito = self._issuer.is_cognito  # (a regular expression: asked once)
        self._keys = keys
        self._clock = clock

    def verify(self, token: str, decoded: Decoded | None = None) -> VerifiedToken:
        """``decoded``: ``decode_unverified(token)`` when the caller has it already (the issuer
        registry reads ``iss`` from it to choose this verifier), so it is not decoded twice."""
        header, payload = decoded or decode_unverified(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._settings.algorithms:
            raise InvalidToken("bad_alg", f"alg {str(alg)[:20]!r} is not accepted")
        forbidden = _FORBIDDEN_HEADER_PARAMS.intersection(header)
        if forbidden:
            raise InvalidToken(
                "bad_header", f"header parameter {sorted(forbidden)[0]!r} is refused"
            )
        kid = header.get("kid", NO_KID)  # none: the key of a set with one key and no kid
        if not isinstance(kid, str) or len(kid) > MAX_KID_LENGTH or (not kid and "kid" in header):
            raise InvalidToken("bad_kid", "kid is empty, not a string or too long")
        key = self._keys.key(kid, alg)
        # The signature, by the key's one algorithm (the key set binds the alg to the key); the
        # claims were decoded above and are validated below, so nothing is parsed twice. Any
        # failure inside the crypto is a bad signature, never an exception upward.
        signing_input, _, signature = token.rpartition(".")
        if not _verifies(key, signing_input, signature):
            # The one key of a set without kids may have been rotated under the same (absent)
            # kid: the set is fetched again (once per cooldown) and the new key tried.
            fresh = self._keys.renewed(kid, alg, key) if kid == NO_KID else None
            if fresh is None or not _verifies(fresh, signing_input, signature):
                raise InvalidToken("bad_signature", "the signature does not verify")
        if payload.get("iss") != self._issuer.issuer:  # exact: no prefix, case or slash games
            raise InvalidToken("wrong_issuer", "iss is not the configured issuer")
        if INCOMPLETE_CLAIM in payload:
            raise InvalidToken(
                "incomplete_token",
                "the pre-token hook could not give this token every attribute of the user "
                "(too large or too deep): the other token, or fewer attributes, will do",
            )
        self._check_times(payload)
        sub = payload.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= 512:
            raise InvalidToken("missing_claim", "sub is missing or not a string")
        kind = token_kind(header, payload, cognito=self._cognito)
        self._check_use_and_client(payload, kind)
        return VerifiedToken(payload, kind, kid, alg)

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now, leeway = self._clock(), self._settings.leeway
        exp = numeric_date(claims, "exp", required=True)
        iat = numeric_date(claims, "iat", required=True)
        nbf = numeric_date(claims, "nbf", required=False)
        if exp is not None and exp <= now - leeway:
            raise InvalidToken("expired", "the token has expired")
        if iat is not None and iat > now + leeway:
            raise InvalidToken("not_yet_valid", "iat is in the future")
        if nbf is not None and nbf > now + leeway:
            raise InvalidToken("not_yet_valid", "nbf is in the future")

    def _check_use_and_client(self, claims: Mapping[str, Any], kind: TokenKind) -> None:
        settings = self._issuer
        if settings.token_use not in ("any", kind):
            raise InvalidToken(
                "wrong_token_use", f"an {kind} token where {settings.token_use} is required"
            )
        if kind == "id":
            audiences = claims.get("aud")
            audiences = [audiences] if isinstance(audiences, str) else audiences
            if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
                raise InvalidToken("bad_audience", "aud is missing or malformed")
            if settings.client_ids and not settings.client_ids.intersection(audiences):
                raise InvalidToken("wrong_client", "aud names no accepted client")
            if settings.client_ids and len(audiences) > 1:
                # OpenID Connect Core 3.1.3.7: with several audiences, `azp` names the party
                # the token was issued to; `aud: [evil, api]` from evil's sign-in is not ours.
                azp = claims.get("azp")
                if not isinstance(azp, str) or azp not in settings.client_ids:
                    raise InvalidToken("wrong_client", "azp names no accepted client")
            # With no client list, the audience set for this API still holds: an access token
            # without `scope` read as an ID token (OIDC's only tell) skipped it.
            audience = settings.audience
            if not settings.client_ids and audience is not None and audience not in audiences:
                raise InvalidToken("bad_audience", "aud does not name this API")
            return
        if settings.client_ids:
            # The first of these the token has (null included): Cognito's, OIDC's (Entra ID's
            # v2 tokens), Okta's, Entra ID's v1 tokens'.
            client = (
                claims["client_id"]
                if "client_id" in claims
                else claims.get("azp", claims.get("cid", claims.get("appid")))
            )
            if not isinstance(client, str) or client not in settings.client_ids:
                raise InvalidToken("wrong_client", "client_id names no accepted client")
        if settings.audience is not None:
            aud = claims.get("aud")
            audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if settings.audience not in audiences:
                raise InvalidToken("bad_audience", "aud does not name this API")


def _verifies(key: VerifyingKey, signing_input: str, signature: str) -> bool:
    try:
        decoded = _signature_bytes(signature)
    except (ValueError, binascii.Error):
        return False
    return key.verify(signing_input.encode(), decoded)


def token_kind(
    header: Mapping[str, Any], claims: Mapping[str, Any], *, cognito: bool = False
) -> TokenKind:
    """Cognito says it in `token_use`, always: from a Cognito issuer a token without it is
    refused, not guessed. RFC 9068 says it in the header's `typ` (`at+jwt`); another explicit
    type (`logout+jwt`, `secevent+jwt`) is no credential, nor is a security event token (an
    `events` claim: OIDC back-channel logout). Keycloak says it in the `typ` claim (`Bearer`,
    `ID`; `Refresh`, `Logout`... are refused). Other OIDC providers put claims only in access
    tokens: `scope`/`scp`, a client (`client_id`, Okta's `cid`, Entra ID v1's `appid`), Entra
    ID's `azpacr`/`appidacr`/`idtyp`, Auth0's grant type `gty` (an app's own token, from the
    client-credentials grant, has no scope). A token with none of them is an ID token."""
    use = claims.get("token_use")
    if use is not None or cognito:
        if use not in ("access", "id"):
            raise InvalidToken("wrong_token_use", "token_use is missing or neither access nor id")
        return "access" if use == "access" else "id"
    typ = header.get("typ")
    if isinstance(typ, str):
        media = typ.lower().removeprefix("application/")
        if media == "at+jwt":
            return "access"
        if media.endswith("+jwt"):
            raise InvalidToken("wrong_token_use", f"a {typ[:32]!r} token is no access or ID token")
    if "events" in claims:
        raise InvalidToken("wrong_token_use", "a security event token (events) is no credential")
    keycloak = claims.get("typ")
    if keycloak == "Bearer":
        return "access"
    if keycloak == "ID":
        return "id"
    if keycloak is not None:
        why = f"typ {str(keycloak)[:32]!r} is neither Bearer nor ID"
        raise InvalidToken("wrong_token_use", why)
    for name in _ACCESS_ONLY_CLAIMS:
        if name in claims:
            return "access"
    return "id"


# Claims OIDC providers put in access tokens and never in ID tokens (see token_kind).
_ACCESS_ONLY_CLAIMS = (
    "scope", "scp", "client_id", "cid", "appid", "azpacr", "appidacr", "idtyp", "gty",
)  # fmt: skip


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Shape checks and JSON decoding, with no key: three base64url segments, objects without
    duplicate keys, bounded size and depth. Nothing here is trusted until the signature is."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed", "token is not a string or is oversized")
    segments = token.split(".")
    if not _is_jws(token, segments):  # the common case in one scan; else say what is wrong
        _refuse_shape(token)
    header, payload, _ = segments
    if len(header) > MAX_HEADER_LENGTH:
        raise InvalidToken("bad_header", "header is oversized")
    return _header(header), _json_object(payload, "payload")


def _is_jws(token: str, segments: list[str]) -> bool:
    """Three non-empty segments (``token.split(".")``) of base64url characters: what ``_JWS``
    matches, by deleting those characters (one C pass over the bytes) and seeing nothing else
    is left."""
    if len(segments) != 3 or not all(segments) or not token.isascii():
        return False
    return not token.encode("ascii").translate(None, _JWS_BYTES)


_JWS_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def _refuse_shape(token: str) -> None:
    """The segment checks one by one, for the precise refusal (a segment that ``_SEGMENT``
    accepts but ``_JWS`` does not, one ending in a newline, goes on as it always did)."""
    segments = token.split(".")
    if len(segments) != 3:
        raise InvalidToken("malformed", f"a JWS has 3 segments, this token has {len(segments)}")
    if not all(_SEGMENT.match(s) for s in segments):
        raise InvalidToken("malformed", "a segment is empty or not base64url")


@functools.lru_cache(maxsize=256)
def _parsed_header(segment: str) -> dict[str, Any]:
    """An issuer signs every token of a key with the same header: decoded once per distinct
    header (a failure is not cached: it raises)."""
    return _json_object(segment, "header")


def _header(segment: str) -> dict[str, Any]:
    return dict(_parsed_header(segment))  # a copy: the cached one is never handed out


def _b64decode(segment: str) -> bytes:
    """``base64.urlsafe_b64decode`` of an unpadded segment, without its wrappers' checks: the
    segments matched ``_JWS``'s alphabet already."""
    return binascii.a2b_base64(
        segment.encode("ascii").translate(_URL_TO_STANDARD) + b"=" * (-len(segment) % 4)
    )


_URL_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# U+D800-U+DFFF, escaped in JSON or as (surrogatepass) UTF-8 bytes.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# By the segment's length modulo 4, the last characters whose unused low bits are zero: the
# canonical ones (2 characters carry 8 bits of 12, 3 carry 16 of 18).
_CANONICAL_LAST = {
    0: frozenset(_ALPHABET),
    2: frozenset(_ALPHABET[::16]),
    3: frozenset(_ALPHABET[::4]),
}


def _signature_bytes(segment: str) -> bytes:
    """The signature, from its one canonical base64url form: a last character that differs only
    in its unused bits decodes to the same bytes, and would let one signature take many forms."""
    if segment[-1] not in _CANONICAL_LAST.get(len(segment) % 4, ()):
        raise ValueError("non-canonical base64url signature")
    return _b64decode(segment)


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = _b64decode(segment)
        # json.loads(raw, object_pairs_hook=...) exactly, without building a decoder per call.
        value = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (binascii.Error, ValueError, RecursionError) as error:
        raise InvalidToken("malformed", f"{what} is not base64url JSON: {error}") from None
    if not isinstance(value, dict):
        raise InvalidToken("malformed", f"{what} is not a JSON object")
    # A lone surrogate (escaped `\ud800`, or raw, which JSON's surrogatepass lets through) is no
    # text Cedar can hold: it broke cedarpy's entity parse (a 500). Looked for only when the
    # payload holds a surrogate at all (a pair, an emoji, is fine), not for every `\u00e9`.
    if (b"\\u" in raw or b"\xed" in raw) and _SURROGATE.search(raw) and not _encodable(value):
        raise InvalidToken("malformed", f"{what} holds a lone surrogate (not Unicode text)")
    # No deeper than its opening brackets are many (strings' brackets only add to the count):
    # a typical token has two, and the walk is skipped.
    brackets = raw.count(b"{") + raw.count(b"[")
    if brackets > MAX_CLAIM_DEPTH and _depth(value) > MAX_CLAIM_DEPTH:
        raise InvalidToken("malformed", f"{what} nests deeper than {MAX_CLAIM_DEPTH}")
    return value


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_DECODER = json.JSONDecoder(object_pairs_hook=no_duplicate_keys)


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (no recursion on hostile input); scalars cost nothing."""
    deepest, stack = 1, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                deepest = max(deepest, depth + 1)
                stack.append((child, depth + 1))
    return deepest


def numeric_date(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    """RFC 7519 NumericDate: a JSON number, not a string, not a boolean."""
    if name not in claims:
        if required:
            raise InvalidToken("missing_claim", f"{name} is required")
        return None
    value = claims[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= _MAX_NUMERIC_DATE  # NaN fails this too; a huge int never floats
    ):
        raise InvalidToken("bad_claim", f"{name} is not a NumericDate between 1970 and 9999")
    return float(value)
