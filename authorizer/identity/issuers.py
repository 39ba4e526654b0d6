"""The trusted issuers: a token's ``iss`` -> its verifier, key cache and entity mapping
(docs/architecture.md, Several issuers).

- The issuer is chosen by the token's ``iss`` (decoded, not yet trusted) before any key is
  fetched: an ``iss`` no issuer has is 401 and costs no request. The verifier checks ``iss``
  again, exactly, once the signature holds.
- Each issuer has its own ``JwksCache``: one issuer's key set outage, cooldown or flood of
  unknown kids touches no other issuer's callers.
- Each issuer has its own ``EntityMapping`` (prefix, groups claim); the prefixes of several
  issuers differ (``issuer_settings.check_distinct``), so their principals and groups never meet.
- A non-Cognito issuer configured without a key set URL finds it by OIDC discovery
  (``discovered_keys``), re-done with every key set fetch, so on the key cache's cooldown.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from authorizer.cedar.schema import SchemaModel
from authorizer.config import Settings
from authorizer.errors import ConfigError, DependencyError, InvalidToken, NotPublished
from authorizer.identity.entities import EntityMapping
from authorizer.identity.fetch import Fetch, http_fetch
from authorizer.identity.jwks import JwksCache
from authorizer.identity.tokens import TokenVerifier, VerifiedToken, decode_unverified
from authorizer.issuer_settings import WELL_KNOWN_JWKS, IssuerSettings, require_https
from authorizer.records import NamedTuple

logger = logging.getLogger(__name__)
Clock = Callable[[], float]


class TrustedIssuer(NamedTuple):
    settings: IssuerSettings
    keys: JwksCache
    verifier: TokenVerifier
    mapping: EntityMapping


class IssuerRegistry:
    """Every trusted issuer by its exact ``iss``. ``verify`` is a ``TokenVerifier`` for all of
    them; ``first`` is the first configured (the only one with ``AUTH_ISSUER``)."""

    def __init__(self, trusted: list[TrustedIssuer]) -> None:
        if not trusted:
            raise ConfigError("no trusted issuer")
        self._by_iss = {issuer.settings.issuer: issuer for issuer in trusted}
        self.first = trusted[0]

    @classmethod
    def build(
        cls,
        settings: Settings,
        namespace: str,
        schema: SchemaModel | None,
        fetch: Fetch = http_fetch,
        clock: Clock = time.time,
    ) -> IssuerRegistry:
        trusted = []
        for entry in settings.trusted_issuers:
            keys = key_cache(entry, fetch, clock)
            verifier = TokenVerifier(settings, keys, clock, issuer=entry)
            mapping = EntityMapping(namespace, entry.entity_id_prefix, entry.groups_claim, schema)
            trusted.append(TrustedIssuer(entry, keys, verifier, mapping))
        return cls(trusted)

    def for_policies(self, namespace: str, schema: SchemaModel | None) -> IssuerRegistry:
        """The same issuers, keys and verifiers, with mappings for another policy set (a policy
        bundle's namespace and schema): bundles swapped in share one key cache per issuer."""
        return IssuerRegistry([
            issuer._replace(mapping=issuer.mapping._replace(namespace=namespace, schema=schema))
            for issuer in self._by_iss.values()
        ])  # fmt: skip

    def __len__(self) -> int:
        return len(self._by_iss)

    def __iter__(self) -> Iterator[TrustedIssuer]:
        return iter(self._by_iss.values())

    def named(self, iss: object) -> TrustedIssuer:
        """The issuer whose ``iss`` this is. ``None`` (claims that name none: a backend's own,
        a gateway context) is the one issuer when there is only one."""
        if iss is None and len(self._by_iss) == 1:
            return self.first
        found = self._by_iss.get(iss) if isinstance(iss, str) else None
        if found is None:
            raise InvalidToken("unknown_issuer", "iss names no trusted issuer")
        return found

    def of_token(self, token: str) -> TrustedIssuer:
        """The issuer a token says it is from (unverified: it only picks the keys to try)."""
        return self.named(decode_unverified(token)[1].get("iss", _MISSING))

    def verify(self, token: str) -> VerifiedToken:
        """Decoded once: its ``iss`` picks the issuer, whose verifier checks the rest."""
        decoded = decode_unverified(token)
        issuer = self.named(decoded[1].get("iss", _MISSING))
        return issuer.verifier.verify(token, decoded)

    def mapping_of(self, claims: Mapping[str, Any]) -> EntityMapping:
        """The entity mapping of the issuer of these (verified) claims."""
        return self.named(claims.get("iss")).mapping


_MISSING = object()  # a token with no `iss` is never the one issuer's by default


def key_cache(issuer: IssuerSettings, fetch: Fetch, clock: Clock = time.time) -> JwksCache:
    """The issuer's own key cache: its ``jwks_url``, or OIDC discovery without one."""
    url, get = issuer.jwks_url, fetch
    if url is None:
        url, get = issuer.discovery_url, discovered_keys(issuer.issuer, fetch)
    return JwksCache(url, fetch=get, clock=clock)


def discovered_keys(issuer: str, fetch: Fetch = http_fetch) -> Fetch:
    """A key set fetch by OIDC discovery: the document at the URL it is given (the issuer's
    ``/.well-known/openid-configuration``), then its ``jwks_uri``; both by ``fetch`` (no
    redirect, a deadline, a size cap each). A document naming another issuer is refused: the
    fetch fails, and ``JwksCache`` retries it after its cooldown, not per request. An issuer
    that publishes no discovery document (404, 401, 403, 410; or, at that URL, a JSON object
    naming neither an issuer nor a key set: a server answering every path alike) is read at
    ``<issuer>/.well-known/jwks.json``, the key set URL's default in DESIGN §2; any other
    failure is an outage, not a fallback."""
    well_known = issuer.rstrip("/") + WELL_KNOWN_JWKS

    def fetch_keys(discovery_url: str) -> bytes:
        try:
            document = fetch(discovery_url)
        except NotPublished:
            return fetch(well_known)
        return fetch(jwks_uri(document, issuer) or well_known)

    return fetch_keys


def jwks_uri(body: bytes, issuer: str) -> str | None:
    """The ``jwks_uri`` of a discovery document whose ``issuer`` is exactly ``issuer`` (OIDC
    Discovery 1.0, 4.3), https (http on loopback only); None for a JSON object that names
    neither (no discovery document at all); else a ``DependencyError``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise DependencyError(f"OIDC discovery document of {issuer} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise DependencyError(f"OIDC discovery document of {issuer} is not a JSON object")
    named = document.get("issuer")
    if named is None and "jwks_uri" not in document:
        return None
    if named != issuer:
        shown = repr(named)[:120]
        raise DependencyError(
            f"OIDC discovery document of {issuer} names issuer {shown}: refused until it agrees"
        )
    uri = document.get("jwks_uri")
    if not isinstance(uri, str) or not uri:
        raise DependencyError(f"OIDC discovery document of {issuer} has no jwks_uri")
    try:
        return require_https(uri, "jwks_uri")
    except ConfigError as error:  # the issuer's document, not our settings, is at fault
        raise DependencyError(f"OIDC discovery document of {issuer}: {error}") from None
