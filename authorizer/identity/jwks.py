"""The issuer's key set, fetched over HTTP(S) and cached.

- keys are looked up by ``kid``; an unknown ``kid`` refetches at most once per cooldown, so a
  flood of random kids costs the issuer one request per window;
- one fetch at a time: every caller that needs it waits for the same one (``pending``), and no
  lock is held while it runs, so callers whose key is held never wait on the network;
- a failed fetch keeps serving the keys already held (stale beats down);
- with no usable key and no reachable endpoint, ``DependencyError`` (500, never a cached Deny);
- a member of the set we cannot use (``alg: none``, a symmetric or short key, junk) is skipped
  and logged once per key-set version: it never costs the other keys their use;
- the fetch (``authorizer.identity.fetch``) follows no redirect and has one deadline for
  connect, TLS, headers and body.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from authorizer.errors import CedarAuthzError, DependencyError, InvalidToken
from authorizer.identity.fetch import Fetch, http_fetch
from authorizer.identity.jwk import VerifyingKey, verifying_key
from authorizer.records import NamedTuple

if TYPE_CHECKING:  # (futures: the middleware shares a fetch; the Lambda never loads them)
    from concurrent.futures import Future

logger = logging.getLogger(__name__)

# Runs a claimed fetch: at once (the Lambda path) or in a thread (the middleware).
Starter = Callable[[Callable[[], None]], object]
MAX_KEYS = 1000  # members of a key set; its 64 KB cap (fetch.MAX_JWKS_BYTES) comes first
# The kid of the one key of a set whose only member has none, and of a token without one.
NO_KID = ""
MIN_RSA_BITS = 2048
# Which key types may verify which algorithms: the token's `alg` is bound to the key, never trusted.
_KEY_TYPE_FOR_ALG = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}
_ALG_FOR_KEY_TYPE = {kty: alg for alg, (kty, _crv) in _KEY_TYPE_FOR_ALG.items()}
_PRIVATE_PARAMS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


class KeySource(Protocol):
    def key(self, kid: str, alg: str) -> VerifyingKey: ...

    def renewed(self, kid: str, alg: str, failed: VerifyingKey) -> VerifyingKey | None: ...


# --- the document ------------------------------------------------------------------------------


class Skipped(NamedTuple):
    """A member of the key set that cannot verify tokens, and why (for the log)."""

    kid: str | None
    problem: str


class KeySet(NamedTuple):
    keys: dict[str, VerifyingKey]
    skipped: tuple[Skipped, ...]
    version: str  # sha256 of the document


class _Unusable(Exception):
    """Why one member of a key set is skipped."""


def parse_jwks(body: bytes) -> dict[str, VerifyingKey]:
    """Signing keys by kid (``read_jwks`` without the skipped members)."""
    return read_jwks(body).keys


def read_jwks(body: bytes) -> KeySet:
    """The usable signing keys by kid, and the members skipped. A member we cannot use (another
    purpose or type, ``alg: none``, a short RSA key, junk) is skipped whatever goes wrong in
    reading it: an issuer may publish keys for other purposes, and one bad member must not
    lock out every token. A document that is not a key set is a ``DependencyError``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise DependencyError(f"JWKS is not JSON: {error}") from error
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise DependencyError("JWKS has no `keys` list")
    members: list[object] = document["keys"]
    keys: dict[str, VerifyingKey] = {}
    skipped: list[Skipped] = []
    if len(members) > MAX_KEYS:
        # Refused whole (the keys held keep serving): ignoring members past a limit would refuse
        # the tokens of those keys as the caller's fault (401 unknown_kid).
        raise DependencyError(f"JWKS has {len(members)} members, over {MAX_KEYS}")
    for member in members:
        kid = member.get("kid") if isinstance(member, dict) else None
        shown = kid[:64] if isinstance(kid, str) else None
        try:
            if not isinstance(member, dict):
                raise _Unusable("not a JSON object")
            if kid is None and len(members) == 1:
                kid = NO_KID  # `kid` is optional (RFC 7517): the one key verifies tokens without
            elif not isinstance(kid, str) or not kid:
                raise _Unusable("no kid (with several keys, each needs one)")
            if kid in keys:
                raise _Unusable("duplicate kid (the first usable key is kept)")
            keys[kid] = _signing_key(kid, member)
        except _Unusable as problem:
            skipped.append(Skipped(shown, str(problem)))
        except Exception as error:  # whatever reading one member raises (ValueError mostly)
            skipped.append(
                Skipped(shown, f"unreadable ({type(error).__name__}: {str(error)[:80]})")
            )
    return KeySet(keys, tuple(skipped), hashlib.sha256(body).hexdigest())


def _signing_key(kid: str, member: Mapping[str, Any]) -> VerifyingKey:
    """The member as a public signing key of a type and algorithm we verify with, or
    ``_Unusable``. May raise anything cryptography raises for junk (``ValueError`` mostly)."""
    use = member.get("use", "sig")
    if use != "sig":
        raise _Unusable(f"use {_short(use)} is not sig")
    ops = member.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise _Unusable("key_ops does not allow verify")
    kty = member.get("kty")
    alg = _ALG_FOR_KEY_TYPE.get(kty) if isinstance(kty, str) else None
    if alg is None:
        raise _Unusable(f"key type {_short(kty)} is not supported")
    declared = member.get("alg", alg)
    if declared != alg:
        raise _Unusable(f"alg {_short(declared)} is not supported for kty {kty}")
    if kty == "EC" and member.get("crv") != _KEY_TYPE_FOR_ALG[alg][1]:
        raise _Unusable(f"curve {_short(member.get('crv'))} is not supported")
    if any(name in member for name in _PRIVATE_PARAMS):
        raise _Unusable("holds private key material")
    key = verifying_key(kid, member, alg)  # RSA or P-256, as asked
    if isinstance(key.public, rsa.RSAPublicKey) and key.public.key_size < MIN_RSA_BITS:
        size = key.public.key_size
        raise _Unusable(f"RSA key of {size} bits (at least {MIN_RSA_BITS} required)")
    return key


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


# --- the cache ---------------------------------------------------------------------------------


def run_now(run: Callable[[], None]) -> None:
    run()


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
        self._keys: dict[str, VerifyingKey] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._last_failed = False
        self._last_error = ""
        self._flight: Future[None] | None = None  # the fetch under way
        self._logged_version: str | None = None
        # Guards the fields above; held for bookkeeping only, never across a fetch.
        self._lock = threading.Lock()
        self.fetches = 0
        self.failures = 0

    def key(self, kid: str, alg: str) -> VerifyingKey:
        flight = self.pending(kid, run_now)
        if flight is not None:
            flight.result()  # someone else's fetch of the key set this kid needs
        key = self._held(kid)
        if key.alg != alg:  # the key's type and published alg allow one algorithm
            raise InvalidToken("alg_key_mismatch", f"key {kid!r} cannot verify {alg}")
        return key

    def renewed(self, kid: str, alg: str, failed: VerifyingKey) -> VerifyingKey | None:
        """The key under ``kid`` after fetching the set again, when ``failed`` (the one held)
        did not verify a token: for ``NO_KID`` only, whose one key an issuer replaces under the
        same (absent) kid, so a rotation is not seen as an unknown kid. At most one fetch per
        cooldown, as for an unknown kid; None when nothing new came."""
        if kid != NO_KID:
            return None
        flight = self.pending(kid, run_now, refresh=True)
        if flight is not None:
            flight.result()
        if self._last_failed:  # maybe the rotated-in key we cannot fetch: not the caller's
            # fault (as `_held` says of an unknown kid), within the cooldown too
            raise DependencyError(f"JWKS unreachable: {self._last_error}")
        keys = self._keys
        jwk = keys.get(kid) if keys is not None else None
        if jwk is None or jwk is failed or jwk.alg != alg:
            return None
        return jwk

    def pending(
        self, kid: str, start: Starter = run_now, refresh: bool = False
    ) -> Future[None] | None:
        """Without waiting on the network: the fetch ``key(kid)`` must wait for, or None when
        the keys held answer (a held kid is served, stale or not, while a fetch is under way).
        A fetch that is due (no keys, an unknown kid, keys older than ``max_age``; not within
        the cooldown) is claimed here and handed to ``start``; every caller needing it gets
        the same future, which completes (never fails) when the fetch has."""
        now = self._clock()
        keys = self._keys
        if (
            not refresh
            and keys is not None
            and kid in keys
            and now - self._fetched_at <= self._max_age
        ):
            return None
        with self._lock:
            held = self._keys is not None and kid in self._keys and not refresh
            if self._flight is not None:
                return None if held else self._flight
            if self._attempted_at is not None and now - self._attempted_at < self._cooldown:
                return None
            from concurrent.futures import Future  # noqa: PLC0415  # the middleware's path only

            flight: Future[None] = Future()
            flight.set_running_or_notify_cancel()  # a waiter that gives up cannot cancel it
            self._flight, self._attempted_at = flight, now
            self.fetches += 1
        try:
            start(functools.partial(self._run, flight, now))
        except Exception as error:  # e.g. no thread could be started: a failed fetch
            logger.exception("could not start the JWKS fetch")
            self._finish(flight, now, None, f"the fetch could not start: {error!r}")
        return None if held else flight

    def _run(self, flight: Future[None], started: float) -> None:
        """One fetch; always completes the flight, whatever the fetch does."""
        keys: dict[str, VerifyingKey] | None = None
        problem = "the fetch was interrupted"
        try:
            key_set = read_jwks(self._fetch(self.url))
            self._log_skipped(key_set)
            keys = key_set.keys
        except CedarAuthzError as error:
            problem = str(error)
        except Exception as error:  # a broken fetch function is a failed fetch, not a crash
            logger.exception("JWKS fetch from %s failed", self.url)
            problem = f"JWKS fetch from {self.url} failed: {error!r}"
        finally:
            self._finish(flight, started, keys, problem)

    def _finish(
        self,
        flight: Future[None],
        started: float,
        keys: dict[str, VerifyingKey] | None,
        problem: str,
    ) -> None:
        with self._lock:
            if keys is not None:
                self._keys, self._fetched_at, self._last_failed = keys, started, False
            else:
                self.failures += 1
                self._last_failed, self._last_error = True, problem
            self._flight = None
        if keys is None:
            logger.warning("JWKS fetch failed: %s", problem)
        flight.set_result(None)

    def _held(self, kid: str) -> VerifyingKey:
        keys = self._keys
        if keys is None:
            raise DependencyError(f"JWKS unavailable: {self._last_error or 'not fetched'}")
        jwk = keys.get(kid)
        if jwk is None:
            if self._last_failed:  # maybe a rotated-in key we cannot fetch: not the caller's fault
                raise DependencyError("JWKS unreachable and the token's kid is not cached")
            raise InvalidToken("unknown_kid", "no key with this kid in the issuer's key set")
        return jwk

    def _log_skipped(self, key_set: KeySet) -> None:
        """Each distinct skipped member once per version of the document: the same set fetched
        again (every cooldown, every ``max_age``) logs nothing new."""
        if key_set.version == self._logged_version:
            return
        self._logged_version = key_set.version
        for kid, problem in dict.fromkeys(key_set.skipped):
            logger.warning("JWKS member %r skipped: %s", kid, problem)
