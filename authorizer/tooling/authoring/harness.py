"""The real authorizer path with tokens minted in process: what `test` (friendly form), `explain`
and `diff` run a request through. No HTTP server and no network: the local issuer's key set is
handed to the authorizer directly.

Without ``AUTH_ISSUER`` or ``AUTH_ISSUERS`` the local issuer stands in (the sample application's
setting: no entity-id prefix). With one, the local issuer takes the configured issuer (with
``AUTH_ISSUERS``: the one a token names, else the first) and client id, so that principals get
the ids production gives them (the issuer's prefix and groups claim), only signed by a local
key."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authorizer.cedar.engine import Engine
from authorizer.cedar.policies import LoadedPolicies
from authorizer.cedar.schema import SchemaModel
from authorizer.config import Settings
from authorizer.errors import ConfigError
from authorizer.gateway.events import Request, bearer_token, parse_event
from authorizer.identity.fetch import Fetch, http_fetch
from authorizer.issuer_settings import IssuerSettings, issuers_from
from authorizer.pdp import Authorizer, Caller, Outcome
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LOCAL_CLIENT_ID, LOCAL_ISSUER, LocalIssuer
from authorizer.tooling.local.users import split_profile

LOOPBACK_JWKS = "http://127.0.0.1/.well-known/jwks.json"
DEFAULT_SOURCE_IP = "203.0.113.10"


class Clock:
    """The time a request is made at: set per request, read by the token checks and context."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class HttpCall:
    """An HTTP request to the API, as a test or `explain` describes it."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    source_ip: str = DEFAULT_SOURCE_IP
    time: float | None = None  # epoch seconds; None: now

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.method} {self.path}{'?' + query if query else ''}"


@dataclass(frozen=True)
class Identity:
    """Who calls: a sample user, token claims, or both (claims override the user's)."""

    user: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    token_use: str | None = None  # access or id; None: what the configuration accepts


class Harness:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        issuer: LocalIssuer | None,
        fetch: Fetch = http_fetch,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.issuer = issuer  # None: tokens come from the configured issuer, none are minted
        self.clock = Clock()
        self.authorizer = Authorizer(settings, engine, fetch=fetch, clock=self.clock)

    @classmethod
    def local(
        cls,
        policies: LoadedPolicies,
        model: SchemaModel | None,
        entities_json: str = "[]",
        entities_label: str = "entities",
        environ: Mapping[str, str] | None = None,
        *,
        issuer: str | None = None,
        client_id: str | None = None,
    ) -> Harness:
        """Tokens minted and verified in process (``issuer``/``client_id``: as a token says)."""
        env = dict(os.environ if environ is None else environ)
        if (env.get("AUTH_ISSUERS") or "").strip():
            local = _local_of_issuers(env, issuer, client_id)
        else:
            local = _local_of_issuer(env, issuer, client_id)
        engine = Engine(policies, model, entities_json, entities_label)
        jwks = json.dumps(local.jwks()).encode()
        return cls(Settings.from_env(env), engine, local, fetch=lambda _url: jwks)

    @classmethod
    def configured(
        cls,
        policies: LoadedPolicies,
        model: SchemaModel | None,
        entities_json: str = "[]",
        entities_label: str = "entities",
        environ: Mapping[str, str] | None = None,
    ) -> Harness:
        """The configured issuer and its real key set: tokens are verified as in production."""
        env = dict(os.environ if environ is None else environ)
        env["DECISION_CACHE_TTL"] = "0"
        engine = Engine(policies, model, entities_json, entities_label)
        return cls(Settings.from_env(env), engine, None)

    def claims(self, identity: Identity) -> dict[str, Any]:
        """The claims of a token for ``identity`` minted now (KeyError: unknown sample user)."""
        groups, profile = split_profile(identity.user) if identity.user else ([], {})
        sub = identity.claims.get("sub", identity.user)
        if not isinstance(sub, str) or not sub:
            raise ValueError("the claims need a `sub` (or name a sample `user`)")
        use = identity.token_use or ("id" if self.settings.token_use == "id" else "access")
        extra: dict[str, Any] = dict(profile)
        if groups:  # under the groups claim of the issuer the claims name (else the first's)
            named = [
                i for i in self.settings.trusted_issuers if i.issuer == identity.claims.get("iss")
            ]
            extra[named[0].groups_claim if named else self.settings.groups_claim] = groups
        extra.update(identity.claims)
        claims = self._issuer().claims(sub, token_use=use, extra=extra, now=int(self.clock.now))
        if identity.user is None:
            # Claims given whole: the token carries them and what verifying needs (times, ids,
            # the client), not the sample users' scope and username (a test that a token
            # without scope is denied would have passed the sample's `employee:read` along).
            for name in ("scope", "username"):
                if name not in identity.claims:
                    claims.pop(name, None)
        return claims

    def token(self, identity: Identity) -> str:
        return self._issuer().sign(self.claims(identity))

    def _issuer(self) -> LocalIssuer:
        if self.issuer is None:
            raise ConfigError("tokens of the configured issuer cannot be minted here")
        return self.issuer

    def request(self, call: HttpCall, token: str) -> Request:
        """The API Gateway event of the call (HTTP API, `$default` route) through the parser."""
        headers = {**call.headers, "authorization": f"Bearer {token}"}
        event = apigw.http_v2_event(
            call.method, call.path, None, headers=headers, query=call.query,
            source_ip=call.source_ip, now_ms=int(self.clock.now * 1000),
        )  # fmt: skip
        return parse_event(event)

    def at(self, call: HttpCall, default: float) -> None:
        self.clock.now = call.time if call.time is not None else default

    def decide(self, call: HttpCall, token: str) -> tuple[Request, Caller, Outcome]:
        """Verify and decide as the Lambda does. Raises ``Unauthorized`` as it would (401)."""
        request = self.request(call, token)
        caller = self.authorizer.verify(bearer_token(request))
        return request, caller, self.authorizer.decide(request, caller)


def _local_of_issuer(env: dict[str, str], issuer: str | None, client_id: str | None) -> LocalIssuer:
    """With ``AUTH_ISSUER`` (or none: the sample's local issuer, no prefix): the local issuer as
    it, and ``env`` rewritten to its local key set, with decisions not cached."""
    configured = bool(env.get("AUTH_ISSUER", "").strip())
    client_ids = [c.strip() for c in env.get("AUTH_CLIENT_IDS", "").split(",") if c.strip()]
    local = LocalIssuer(
        issuer=issuer or (env["AUTH_ISSUER"].strip() if configured else LOCAL_ISSUER),
        client_id=client_id or (client_ids[0] if client_ids else LOCAL_CLIENT_ID),
    )
    env.update(
        AUTH_ISSUER=local.issuer,
        AUTH_JWKS_URL=LOOPBACK_JWKS,
        AUTH_CLIENT_IDS=",".join(dict.fromkeys([local.client_id, *client_ids])),
        DECISION_CACHE_TTL="0",
    )
    if not configured:
        env.setdefault("ENTITY_ID_PREFIX", "")
    return local


def _local_of_issuers(
    env: dict[str, str], issuer: str | None, client_id: str | None
) -> LocalIssuer:
    """With ``AUTH_ISSUERS``: the local issuer as the trusted issuer named ``issuer`` (else the
    first), and ``env`` rewritten so that every issuer's keys are the local key set (handed to
    the authorizer by ``fetch``), its client id accepted by each (claims naming another `iss`
    are minted as that issuer) and decisions are not cached."""
    trusted = issuers_from(env["AUTH_ISSUERS"].strip(), env)
    chosen = next((i for i in trusted if i.issuer == issuer), trusted[0])
    local = LocalIssuer(
        issuer=chosen.issuer,
        client_id=client_id or min(chosen.client_ids, default=LOCAL_CLIENT_ID),
    )
    env["AUTH_ISSUERS"] = json.dumps([_entry(i, local) for i in trusted])
    env["DECISION_CACHE_TTL"] = "0"
    return local


def _entry(issuer: IssuerSettings, local: LocalIssuer) -> dict[str, Any]:
    """An ``AUTH_ISSUERS`` entry of ``issuer`` with the local key set, and the local client id
    accepted too."""
    clients = {*issuer.client_ids, local.client_id}
    entry: dict[str, Any] = {
        "issuer": issuer.issuer, "jwks_url": LOOPBACK_JWKS, "client_ids": sorted(clients),
        "token_use": issuer.token_use, "groups_claim": issuer.groups_claim,
        "entity_id_prefix": issuer.entity_id_prefix,
    }  # fmt: skip
    if issuer.audience is not None:
        entry["audience"] = issuer.audience
    return entry
