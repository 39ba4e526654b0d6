"""The issuer's key set, fetched over HTTP(S) and cached (DESIGN section 4).

- keys are looked up by ``kid``; an unknown ``kid`` refetches at most once per cooldown, so a
  flood of random kids costs the issuer one request per window;
- a failed fetch keeps serving the keys already held (stale beats down);
- with no usable key and no reachable endpoint, ``DependencyError`` (500, never a cached Deny).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from jwt import PyJWK
from jwt.exceptions import PyJWTError

from authorizer.config import require_https
from authorizer.errors import CedarAuthzError, DependencyError, InvalidToken

Fetch = Callable[[str], bytes]
MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 100
# Which key types may verify which algorithms: the token's `alg` is bound to the key, never trusted.
_KEY_TYPE_FOR_ALG = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}


class KeySource(Protocol):
    def key(self, kid: str, alg: str) -> PyJWK: ...


def http_fetch(url: str, timeout: float = 2.0, max_bytes: int = MAX_JWKS_BYTES) -> bytes:
    """GET with a short timeout and a size cap; any failure is a ``DependencyError``."""
    require_https(url, "JWKS URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310  # scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DependencyError(f"JWKS fetch from {url} failed: {error}") from error
    if len(body) > max_bytes:
        raise DependencyError(f"JWKS at {url} is larger than {max_bytes} bytes")
    return body


def parse_jwks(body: bytes) -> dict[str, PyJWK]:
    """Signing keys by kid. Keys we cannot use (no kid, encryption keys, unknown types) are
    skipped, not fatal: an issuer may publish keys for other purposes."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise DependencyError(f"JWKS is not JSON: {error}") from error
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise DependencyError("JWKS has no `keys` list")
    keys: dict[str, PyJWK] = {}
    for jwk in document["keys"][:MAX_KEYS]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("kty") not in ("RSA", "EC"):
            continue
        try:
            keys[jwk["kid"]] = PyJWK(jwk)
        except PyJWTError:
            continue
    return keys


def key_matches(jwk: PyJWK, alg: str) -> bool:
    expected = _KEY_TYPE_FOR_ALG.get(alg)
    if expected is None:
        return False
    kty, crv = expected
    data: Mapping[str, Any] = jwk._jwk_data  # the JWK as published
    if data.get("kty") != kty or (crv is not None and data.get("crv") != crv):
        return False
    declared = data.get("alg")
    return declared is None or declared == alg


class JwksCache:
    def __init__(
        self,
        url: str,
        fetch: Fetch = http_fetch,
        clock: Callable[[], float] = time.monotonic,
        cooldown: float = 10.0,
        max_age: float = 3600.0,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._clock = clock
        self._cooldown = cooldown
        self._max_age = max_age
        self._keys: dict[str, PyJWK] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._last_failed = False
        self._lock = threading.Lock()
        self.fetches = 0
        self.failures = 0

    def key(self, kid: str, alg: str) -> PyJWK:
        now = self._clock()
        keys, fetch_failed = self._keys, False
        if keys is None or now - self._fetched_at > self._max_age or kid not in keys:
            keys, fetch_failed = self._refresh(now)
        jwk = keys.get(kid)
        if jwk is None:
            if fetch_failed:  # maybe a rotated-in key we cannot fetch: not the caller's fault
                raise DependencyError("JWKS unreachable and the token's kid is not cached")
            raise InvalidToken("unknown_kid", "no key with this kid in the issuer's key set")
        if not key_matches(jwk, alg):
            raise InvalidToken("alg_key_mismatch", f"key {kid!r} cannot verify {alg}")
        return jwk

    def _refresh(self, now: float) -> tuple[dict[str, PyJWK], bool]:
        """Fetch unless the last attempt was within the cooldown; fall back to what we hold.
        Returns the keys and whether the latest fetch failed."""
        with self._lock:
            if self._attempted_at is not None and now - self._attempted_at < self._cooldown:
                if self._keys is None:
                    raise DependencyError("JWKS unavailable (last fetch failed; in cooldown)")
                return self._keys, self._last_failed
            self._attempted_at = now
            self.fetches += 1
            try:
                keys = parse_jwks(self._fetch(self.url))
            except CedarAuthzError as error:
                self.failures += 1
                self._last_failed = True
                if self._keys is None:
                    raise DependencyError(str(error)) from error
                return self._keys, True  # stale keys keep serving through an outage
            self._keys, self._fetched_at, self._last_failed = keys, now, False
            return keys, False
