"""Several trusted issuers, with real parts: two local issuers with their own RSA keys (under
the same kid) and their own JWKS endpoints on loopback, OIDC discovery documents, a Keycloak
token, and the handler's real answers and log lines (docs/architecture.md, Several issuers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authorizer.errors import DependencyError, InvalidRequest, InvalidToken
from authorizer.limits import MAX_GROUPS
from authorizer.pdp import Authorizer
from authorizer.sdk import api
from authorizer.sdk.middleware import Guard, identify
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from tests.conftest import FakeClock, JwksServer
from tests.helpers import outcome, rest

POLICIES = """
@id("alice-of-a")
permit (principal == Api::User::"a|alice", action == Api::Action::"get /things", resource);

@id("admins-of-b")
permit (principal in Api::UserGroup::"b|admins", action == Api::Action::"get /things", resource);

@id("keycloak-admins")
permit (principal in Api::UserGroup::"kc|admin", action == Api::Action::"get /things", resource);

@id("alice-of-a-per-request")
permit (principal == Api::User::"a|alice", action == Api::Action::"get /items/{itemId}", resource)
when { context.request.method == "GET" };
"""
THINGS = ("GET", "/things", "/things")  # token-level: the policies read no context
ITEM = ("GET", "/items/i-1", "/items/{itemId}")  # decided per request


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    """Issuer B's key, under issuer A's kid: the kid names a key within one issuer only."""
    return SigningKey.rsa("test-rsa-1")


@pytest.fixture(scope="module")
def _two_servers() -> Iterator[tuple[JwksServer, JwksServer]]:
    a, b = JwksServer(), JwksServer()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def servers(_two_servers: tuple[JwksServer, JwksServer]) -> tuple[JwksServer, JwksServer]:
    """Two loopback JWKS endpoints for the module, reset for every test."""
    for server in _two_servers:
        server.fail, server.hits, server.discovery = False, 0, None
    return _two_servers


@pytest.fixture
def pair(
    servers: tuple[JwksServer, JwksServer], rsa_key: SigningKey, other_key: SigningKey
) -> tuple[LocalIssuer, LocalIssuer]:
    assert rsa_key.kid == other_key.kid
    # One client id at both: two tokens for the same sub then differ in `iss` alone.
    a = LocalIssuer(issuer=servers[0].base, client_id="app", keys=[rsa_key])
    b = LocalIssuer(issuer=servers[1].base, client_id="app", keys=[other_key])
    servers[0].document, servers[1].document = a.jwks(), b.jwks()
    return a, b


def entry(issuer: LocalIssuer, server: JwksServer, prefix: str, **fields: Any) -> dict[str, Any]:
    return {"issuer": issuer.issuer, "jwks_url": server.url, "client_ids": [issuer.client_id],
            "entity_id_prefix": prefix, **fields}  # fmt: skip


def make(tmp_path: Path, clock: FakeClock, *entries: dict[str, Any]) -> Authorizer:
    (tmp_path / "p.cedar").write_text(POLICIES)
    env = {"AUTH_ISSUERS": json.dumps(list(entries)), "CEDAR_POLICY_DIR": str(tmp_path),
           "CEDAR_NAMESPACE": "Api", "CEDAR_SCHEMA": "none", "CEDAR_ENTITIES": "none"}  # fmt: skip
    return Authorizer.from_env(env, clock=clock)


@pytest.fixture
def two(
    tmp_path: Path,
    clock: FakeClock,
    pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer],
) -> Authorizer:
    return make(tmp_path, clock, entry(pair[0], servers[0], "a"), entry(pair[1], servers[1], "b"))


def token(issuer: LocalIssuer, sub: str, clock: FakeClock, **extra: Any) -> str:
    return issuer.token(sub, extra=extra, now=clock.now)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# --- each issuer, its keys ---------------------------------------------------------------------


def test_each_issuers_tokens_verify_with_its_own_keys(
    two: Authorizer, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    a, b = pair
    response = two.handle(rest(token(a, "alice", clock), *THINGS))
    assert response["principalId"] == "a|alice"
    assert response["context"]["issuer"] == a.issuer  # the backend learns whose token it was
    assert outcome(two, rest(token(b, "bob", clock, groups=["admins"]), *THINGS)) == "Allow"
    assert outcome(two, rest(token(b, "carol", clock, groups=["staff"]), *THINGS)) == "Deny"
    log = lines(capsys)
    assert [line["issuer"] for line in log] == [a.issuer, b.issuer, b.issuer]
    assert [line["principal"] for line in log] == ["a|alice", "b|bob", "b|carol"]


def test_a_token_naming_one_issuer_signed_by_another_is_refused(
    two: Authorizer, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock
) -> None:
    """B's key, under the kid A's key has, signing a token that says it is A's: A's keys are
    tried (a key cache shared by kid would have verified it)."""
    a, b = pair
    forged = b.sign(a.claims("alice", now=clock.now))
    assert outcome(two, rest(forged, *THINGS)) == "401"


@pytest.mark.parametrize("iss", ["https://evil.example", None, "http://127.0.0.1", ""])
def test_an_unknown_iss_is_401_with_no_fetch(
    two: Authorizer, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock,
    servers: tuple[JwksServer, JwksServer], iss: Any, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    claims = pair[0].claims("alice", now=clock.now)
    if iss is None:
        del claims["iss"]
    else:
        claims["iss"] = iss
    assert outcome(two, rest(pair[0].sign(claims), *THINGS)) == "401"
    assert (servers[0].hits, servers[1].hits) == (0, 0)
    assert lines(capsys)[0]["token_failure"] == "unknown_issuer"


def test_one_issuer_an_unknown_iss_costs_no_fetch_either(
    tmp_path: Path, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock,
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    """AUTH_ISSUER alone: a token of another issuer used to fetch the key set first."""
    (tmp_path / "p.cedar").write_text(POLICIES)
    a, b = pair
    env = {"AUTH_ISSUER": a.issuer, "AUTH_JWKS_URL": servers[0].url, "ENTITY_ID_PREFIX": "a",
           "CEDAR_POLICY_DIR": str(tmp_path), "CEDAR_NAMESPACE": "Api", "CEDAR_SCHEMA": "none",
           "CEDAR_ENTITIES": "none"}  # fmt: skip
    one = Authorizer.from_env(env, clock=clock)
    assert outcome(one, rest(token(b, "alice", clock), *THINGS)) == "401"
    assert servers[0].hits == 0
    response = one.handle(rest(token(a, "alice", clock), *THINGS))
    assert "issuer" not in response["context"]  # one issuer: nothing to tell apart


def test_one_issuers_jwks_outage_leaves_the_others_callers_alone(
    two: Authorizer, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock,
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    a, b = pair
    servers[0].fail = True
    with pytest.raises(DependencyError):  # 500, never cached: not a 401, not a Deny
        two.handle(rest(token(a, "alice", clock), *THINGS))
    for n in range(3):
        bob = token(b, f"bob-{n}", clock, groups=["admins"])
        assert outcome(two, rest(bob, *THINGS)) == "Allow"
    assert servers[1].hits == 1  # B's keys, fetched once: A's failures cost B nothing
    with pytest.raises(DependencyError):  # within A's cooldown: no new fetch
        two.handle(rest(token(a, "alice", clock), *THINGS))
    assert servers[0].hits == 1
    servers[0].fail = False
    clock.advance(11)  # past the cooldown
    assert outcome(two, rest(token(a, "alice", clock), *THINGS)) == "Allow"
    assert two.issuers.named(b.issuer).keys.failures == 0


# --- the cache never mixes issuers -------------------------------------------------------------


@pytest.mark.parametrize("route", [THINGS, ITEM], ids=["token-level", "per-request"])
@pytest.mark.parametrize("first", ["a", "b"])
def test_the_same_sub_at_two_issuers_never_shares_a_cached_decision(
    two: Authorizer, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock,
    capsys: pytest.CaptureFixture[str], route: tuple[str, str, str], first: str,
) -> None:  # fmt: skip
    """Same sub, same other claims: only the issuer differs, and with it the principal's
    prefix (in the caller digest every decision key holds). a|alice is allowed, b|alice not.
    (Token-level batches also key on the token record, `iss` included; per-request decisions
    of policies that read no `context.token` key on the caller digest alone.)"""
    a, b = pair
    claims = {"scope": "openid", "groups": ["staff"]}
    events = {
        "a": rest(token(a, "alice", clock, **claims), *route),
        "b": rest(token(b, "alice", clock, **claims), *route),
    }
    expected = {"a": "Allow", "b": "Deny"}
    order = [first, "a" if first == "b" else "b"]
    for name in order:
        assert outcome(two, events[name]) == expected[name]
    assert [line["cache"] for line in lines(capsys)] == ["none", "none"]
    for name in order:  # each one's own decision is cached, and served to it alone
        assert outcome(two, events[name]) == expected[name]
    assert [line["cache"] for line in lines(capsys)] == ["token" if route == THINGS else
                                                         "decision"] * 2  # fmt: skip


# --- groups in a nested claim ------------------------------------------------------------------


def keycloak_claims(issuer: LocalIssuer, clock: FakeClock, roles: Any) -> dict[str, Any]:
    """An access token as Keycloak issues it: typ Bearer, azp, roles under realm_access."""
    now = int(clock.now)
    return {"iss": issuer.issuer, "sub": "f3c1-kc-user", "typ": "Bearer", "azp": issuer.client_id,
            "iat": now, "exp": now + 300, "scope": "openid profile",
            "realm_access": {"roles": roles}, "resource_access": {"account": {"roles": ["x"]}},
            "preferred_username": "kim"}  # fmt: skip


def test_keycloak_realm_roles_are_groups(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    a, kc = pair
    authz = make(tmp_path, clock, entry(a, servers[0], "a"),
                 entry(kc, servers[1], "kc", groups_claim="realm_access.roles"))  # fmt: skip
    admin = kc.sign(keycloak_claims(kc, clock, ["offline_access", "admin"]))
    assert outcome(authz, rest(admin, *THINGS)) == "Allow"
    caller = authz.verify(admin)
    assert [p["id"] for p in caller.extra[0]["parents"]] == ["kc|offline_access", "kc|admin"]
    user = kc.sign(keycloak_claims(kc, clock, ["offline_access"]))
    assert outcome(authz, rest(user, *THINGS)) == "Deny"
    # Issuer A's groups still come from its own (default) claim.
    assert outcome(authz, rest(token(a, "zed", clock, groups=["admin"]), *THINGS)) == "Deny"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([f"r{n}" for n in range(MAX_GROUPS)] + ["admin"], "401"),
        ([f"r{n}" for n in range(MAX_GROUPS - 1)] + ["admin"], "Allow"),
        ("staff admin", "Allow"),  # space-separated, split as a top-level claim is
        (["admin", 7], "401"),
        (["admin", ""], "401"),
        ({"admin": True}, "401"),
    ],
)
def test_nested_groups_keep_the_limits(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer], roles: Any, expected: str,
) -> None:  # fmt: skip
    """Over MAX_GROUPS: refused, never cut (the role cut could be one a policy names); a
    member that is no name refuses the token too."""
    kc = pair[1]
    authz = make(tmp_path, clock, entry(kc, servers[1], "kc", groups_claim="realm_access.roles"))
    assert outcome(authz, rest(kc.sign(keycloak_claims(kc, clock, roles)), *THINGS)) == expected


def test_single_issuer_dotted_groups_claim(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    """AUTH_GROUPS_CLAIM=realm_access.roles: Keycloak's roles were Deny for everyone."""
    (tmp_path / "p.cedar").write_text(POLICIES)
    kc = pair[1]
    env = {"AUTH_ISSUER": kc.issuer, "AUTH_JWKS_URL": servers[1].url, "ENTITY_ID_PREFIX": "kc",
           "AUTH_GROUPS_CLAIM": "realm_access.roles", "CEDAR_POLICY_DIR": str(tmp_path),
           "CEDAR_NAMESPACE": "Api", "CEDAR_SCHEMA": "none", "CEDAR_ENTITIES": "none"}  # fmt: skip
    authz = Authorizer.from_env(env, clock=clock)
    assert outcome(authz, rest(kc.sign(keycloak_claims(kc, clock, ["admin"])), *THINGS)) == "Allow"
    through_a_list = keycloak_claims(kc, clock, ["admin"])
    through_a_list["realm_access"] = [{"roles": ["admin"]}]
    assert outcome(authz, rest(kc.sign(through_a_list), *THINGS)) == "401"
    both = keycloak_claims(kc, clock, ["admin"]) | {"realm_access.roles": ["staff"]}
    assert outcome(authz, rest(kc.sign(both), *THINGS)) == "401"  # which one? neither
    flat = keycloak_claims(kc, clock, []) | {"realm_access.roles": ["admin"]}
    del flat["realm_access"]
    assert outcome(authz, rest(kc.sign(flat), *THINGS)) == "Allow"  # a claim of that very name


def test_a_groups_path_reaches_keys_that_hold_dots(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    """Keycloak's client roles are under `resource_access.<client id>.roles`, and client ids
    hold dots (`com.example.app`): the path was split on every dot, found no `com`, and read
    no groups, so a forbid on the caller's role did not hold."""
    (tmp_path / "p.cedar").write_text(POLICIES)
    kc = pair[1]
    env = {"AUTH_ISSUER": kc.issuer, "AUTH_JWKS_URL": servers[1].url, "ENTITY_ID_PREFIX": "kc",
           "AUTH_GROUPS_CLAIM": "resource_access.com.example.app.roles",
           "CEDAR_POLICY_DIR": str(tmp_path), "CEDAR_NAMESPACE": "Api", "CEDAR_SCHEMA": "none",
           "CEDAR_ENTITIES": "none"}  # fmt: skip
    authz = Authorizer.from_env(env, clock=clock)
    claims = keycloak_claims(kc, clock, [])
    claims["resource_access"] = {"com.example.app": {"roles": ["admin"]}}
    assert outcome(authz, rest(kc.sign(claims), *THINGS)) == "Allow"
    claims["resource_access"]["com.example.app"]["roles"] = ["staff"]
    assert outcome(authz, rest(kc.sign(claims), *THINGS)) == "Deny"
    # Two readings of the path, each finding roles: which are the caller's? Neither.
    claims["resource_access"]["com"] = {"example.app": {"roles": ["admin"]}}
    assert outcome(authz, rest(kc.sign(claims), *THINGS)) == "401"


# --- OIDC discovery ----------------------------------------------------------------------------


def test_discovery_finds_the_key_set(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    a, b = pair
    servers[1].discovery = {"issuer": b.issuer, "jwks_uri": servers[1].url,
                            "authorization_endpoint": f"{b.issuer}/authorize"}  # fmt: skip
    authz = make(tmp_path, clock, entry(a, servers[0], "a"),
                 {"issuer": b.issuer, "client_ids": ["app"], "entity_id_prefix": "b"})  # fmt: skip
    assert authz.issuers.named(b.issuer).keys.url == f"{b.issuer}/.well-known/openid-configuration"
    for n in range(2):
        assert outcome(authz, rest(token(b, f"bob{n}", clock, groups=["admins"]), *THINGS)) == (
            "Allow"
        )
    assert servers[1].hits == 2  # the document, then its jwks_uri; the keys then cached


def test_an_issuer_without_a_discovery_document_is_read_at_its_well_known_key_set(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    """DESIGN §2: the key set URL defaults to <issuer>/.well-known/jwks.json. An OIDC issuer
    given no key set URL is asked for its discovery document first; one that has none (404)
    had every token refused with a 500 forever."""
    a, b = pair
    assert servers[1].discovery is None  # 404 at /.well-known/openid-configuration
    authz = make(tmp_path, clock, entry(a, servers[0], "a"),
                 {"issuer": b.issuer, "client_ids": ["app"], "entity_id_prefix": "b"})  # fmt: skip
    assert outcome(authz, rest(token(b, "bob", clock, groups=["admins"]), *THINGS)) == "Allow"
    assert servers[1].hits == 2  # the document (404), then the well-known key set


def test_a_server_answering_every_path_with_its_key_set_is_read_at_the_well_known_one(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    """Its `openid-configuration` is the key set itself, no discovery document (it names no
    issuer and no jwks_uri): every token was a 500 ("names issuer None")."""
    a, b = pair
    servers[1].discovery = servers[1].document
    authz = make(tmp_path, clock, entry(a, servers[0], "a"),
                 {"issuer": b.issuer, "client_ids": ["app"], "entity_id_prefix": "b"})  # fmt: skip
    assert outcome(authz, rest(token(b, "bob", clock, groups=["admins"]), *THINGS)) == "Allow"


def test_forbidden_and_gone_publish_nothing_as_not_found_does() -> None:
    """A discovery path behind a 403 (a WAF rule, a gateway) publishes nothing to us either."""
    import threading  # noqa: PLC0415
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415

    from authorizer.errors import NotPublished  # noqa: PLC0415
    from authorizer.identity.fetch import http_fetch  # noqa: PLC0415

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(int(self.path.strip("/")))
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for status in (401, 403, 404, 410):
            with pytest.raises(NotPublished):
                http_fetch(f"{base}/{status}")
        for status in (429, 500, 503):
            with pytest.raises(DependencyError) as raised:
                http_fetch(f"{base}/{status}")
            assert not isinstance(raised.value, NotPublished)
    finally:
        server.shutdown()


def test_a_discovery_endpoint_that_fails_otherwise_is_an_outage_not_a_fallback(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    a, b = pair
    servers[1].fail = True  # 503
    authz = make(tmp_path, clock, entry(a, servers[0], "a"),
                 {"issuer": b.issuer, "client_ids": ["app"], "entity_id_prefix": "b"})  # fmt: skip
    with pytest.raises(DependencyError, match="HTTP 503"):
        authz.handle(rest(token(b, "bob", clock, groups=["admins"]), *THINGS))
    assert servers[1].hits == 1


@pytest.mark.parametrize(
    "document",
    [
        {"issuer": "https://impostor.example", "jwks_uri": "JWKS"},
        {"issuer": "ISSUER/", "jwks_uri": "JWKS"},  # not exactly the configured issuer
        {"jwks_uri": "JWKS"},
        {"issuer": "ISSUER"},
        {"issuer": "ISSUER", "jwks_uri": "http://keys.example/jwks"},  # http, not loopback
        ["ISSUER"],
    ],
)
def test_a_discovery_document_that_does_not_agree_is_refused_until_it_does(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],
    servers: tuple[JwksServer, JwksServer], document: Any,
) -> None:  # fmt: skip
    a, b = pair
    text = json.dumps(document).replace("ISSUER", b.issuer).replace("JWKS", servers[1].url)
    servers[1].discovery = json.loads(text)
    authz = make(tmp_path, clock, entry(a, servers[0], "a"),
                 {"issuer": b.issuer, "client_ids": ["app"], "entity_id_prefix": "b"})  # fmt: skip
    bob = rest(token(b, "bob", clock, groups=["admins"]), *THINGS)
    with pytest.raises(DependencyError, match="OIDC discovery document"):
        authz.handle(bob)
    with pytest.raises(DependencyError):
        authz.handle(bob)
    assert servers[1].hits == 1  # retried on the key cache's cooldown, not per request
    assert outcome(authz, rest(token(a, "alice", clock), *THINGS)) == "Allow"
    servers[1].discovery = {"issuer": b.issuer, "jwks_uri": servers[1].url}
    clock.advance(11)
    assert outcome(authz, bob) == "Allow"
    assert servers[1].hits == 3


# --- the backend library picks the issuer too --------------------------------------------------


def test_middleware_fetches_the_token_issuers_keys(
    two: Authorizer, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock,
    servers: tuple[JwksServer, JwksServer],
) -> None:  # fmt: skip
    a, b = pair
    bob = f"Bearer {token(b, 'bob', clock, groups=['admins'])}"
    asyncio.run(Guard(two).keys_for(bob))
    assert (servers[0].hits, servers[1].hits) == (0, 1)
    assert identify(two, bob).principal == {"type": "Api::User", "id": "b|bob"}
    stranger = f"Bearer {LocalIssuer(issuer='https://evil.example', keys=a.keys).token('x')}"
    asyncio.run(Guard(two).keys_for(stranger))  # refused later, fetched never
    assert (servers[0].hits, servers[1].hits) == (0, 1)


def test_a_trusted_gateway_context_is_bound_to_the_forwarded_tokens_issuer(
    two: Authorizer, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock
) -> None:
    a, b = pair
    context = {"principalId": "b|bob", "sub": "bob", "issuer": b.issuer}
    bob = f"Bearer {token(b, 'bob', clock)}"
    subject = identify(two, bob, context, trust_gateway=True)
    assert subject.principal["id"] == "b|bob" and subject.claims is not None
    with pytest.raises(InvalidToken, match="principal"):  # A's bob is another principal
        identify(two, f"Bearer {token(a, 'bob', clock)}", context, trust_gateway=True)
    stranger = LocalIssuer(issuer="https://evil.example", keys=a.keys).token("bob")
    with pytest.raises(InvalidToken, match="no trusted issuer"):
        identify(two, f"Bearer {stranger}", context, trust_gateway=True)
    with pytest.raises(InvalidRequest, match="forward the Authorization header"):
        identify(two, None, context, trust_gateway=True)


def test_backend_claims_pick_their_issuers_mapping(
    two: Authorizer, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock
) -> None:
    b = pair[1]
    claims = b.claims("bob", now=clock.now, extra={"groups": ["admins"]})
    subject = api.subject(two, 'Api::User::"b|bob"', claims)
    assert [p["id"] for p in subject.extra[0]["parents"]] == ["b|admins"]
    with pytest.raises(ValueError, match="not the one the claims name"):
        api.subject(two, 'Api::User::"a|bob"', claims)
    with pytest.raises(ValueError, match="no trusted issuer"):
        api.subject(two, 'Api::User::"b|bob"', {**claims, "iss": None})
