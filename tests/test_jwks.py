"""The key-set cache against a real JWKS endpoint on loopback: cooldown on unknown kids, stale
keys through outages, rotation, and outages that must be 500s, never 401s or cached Denies."""

from __future__ import annotations

import secrets

import pytest

from authorizer.errors import DependencyError, InvalidToken
from authorizer.identity.fetch import http_fetch
from authorizer.identity.jwks import JwksCache, parse_jwks
from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from tests.conftest import FakeClock, JwksServer
from tests.helpers import outcome, rest, user_token


def cache(server: JwksServer, clock: FakeClock, cooldown: float = 10.0) -> JwksCache:
    return JwksCache(server.url, clock=clock, cooldown=cooldown, max_age=3600)


def test_known_kid_is_fetched_once(
    jwks_server: JwksServer, rsa_key: SigningKey, clock: FakeClock
) -> None:
    keys = cache(jwks_server, clock)
    for _ in range(5):
        keys.key(rsa_key.kid, "RS256")
    assert jwks_server.hits == 1


def test_hundred_random_kids_cost_one_fetch_per_cooldown(
    jwks_server: JwksServer, rsa_key: SigningKey, clock: FakeClock
) -> None:
    keys = cache(jwks_server, clock)
    keys.key(rsa_key.kid, "RS256")
    for _ in range(100):
        with pytest.raises(InvalidToken) as caught:
            keys.key(secrets.token_hex(8), "RS256")
        assert caught.value.reason == "unknown_kid"
    assert jwks_server.hits == 1  # the load itself opened the cooldown window
    clock.advance(10.1)
    for _ in range(100):
        with pytest.raises(InvalidToken):
            keys.key(secrets.token_hex(8), "RS256")
    assert jwks_server.hits == 2  # one refetch for the whole next window


def test_rotation_is_picked_up_after_the_cooldown(
    jwks_server: JwksServer, issuer: LocalIssuer, rsa_key: SigningKey, clock: FakeClock
) -> None:
    keys = cache(jwks_server, clock)
    keys.key(rsa_key.kid, "RS256")
    rotated = SigningKey.rsa("rotated-in")
    jwks_server.document = {"keys": [*issuer.jwks()["keys"], rotated.public_jwk()]}
    clock.advance(11)
    assert keys.key("rotated-in", "RS256").kid == "rotated-in"


def test_stale_keys_serve_through_an_outage(
    jwks_server: JwksServer, rsa_key: SigningKey, clock: FakeClock
) -> None:
    keys = cache(jwks_server, clock)
    keys.key(rsa_key.kid, "RS256")
    jwks_server.fail = True
    clock.advance(7200)  # past max_age: a refresh is attempted, fails, the old keys stand
    assert keys.key(rsa_key.kid, "RS256").kid == rsa_key.kid
    assert keys.failures == 1


def test_no_keys_and_no_endpoint_is_a_dependency_error(
    jwks_server: JwksServer, clock: FakeClock
) -> None:
    jwks_server.fail = True
    keys = cache(jwks_server, clock)
    with pytest.raises(DependencyError):
        keys.key("any", "RS256")
    with pytest.raises(DependencyError):  # within the cooldown: no second request
        keys.key("any", "RS256")
    assert jwks_server.hits == 1


def test_unknown_kid_during_an_outage_is_a_dependency_error(
    jwks_server: JwksServer, rsa_key: SigningKey, clock: FakeClock
) -> None:
    """A rotated-in key we cannot fetch is not the caller's fault: 500, not 401."""
    keys = cache(jwks_server, clock)
    keys.key(rsa_key.kid, "RS256")
    jwks_server.fail = True
    clock.advance(11)
    with pytest.raises(DependencyError):
        keys.key("rotated-in", "RS256")
    with pytest.raises(DependencyError):
        keys.key("rotated-in", "RS256")


def test_algorithm_is_bound_to_the_key(
    jwks_server: JwksServer, rsa_key: SigningKey, ec_key: SigningKey, clock: FakeClock
) -> None:
    keys = cache(jwks_server, clock)
    with pytest.raises(InvalidToken):
        keys.key(rsa_key.kid, "ES256")
    with pytest.raises(InvalidToken):
        keys.key(ec_key.kid, "RS256")
    assert keys.key(ec_key.kid, "ES256").kid == ec_key.kid


def test_unusable_keys_are_skipped() -> None:
    good = SigningKey.rsa("good").public_jwk()
    body = (
        b'{"keys": [{"kid": "enc", "kty": "RSA", "use": "enc", "n": "x", "e": "AQAB"},'
        b' {"kty": "RSA", "n": "x", "e": "AQAB"}, {"kid": "oct", "kty": "oct", "k": "c2VjcmV0"},'
        b' {"kid": "broken", "kty": "RSA", "n": "!!", "e": "AQAB"}, 7, '
        + __import__("json").dumps(good).encode()
        + b"]}"
    )
    assert list(parse_jwks(body)) == ["good"]


def test_key_parameters_published_padded_or_in_standard_base64_are_read() -> None:
    """Firebase, Cloud Foundry UAA and Atlassian publish `n` padded (`...==`), some issuers in
    the standard alphabet: since stop 22's own JWK reader every token of such an issuer was a
    401 (PyJWK read them). Whitespace or other characters still make the member unreadable,
    and the log says which parameter."""
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    good = SigningKey.rsa("padded").public_jwk()
    n = int.from_bytes(base64.urlsafe_b64decode(good["n"] + "=="), "big")
    raw = n.to_bytes(256, "big")
    for form in (base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode()):
        key = parse_jwks(json.dumps({"keys": [{**good, "n": form}]}).encode())["padded"]
        assert isinstance(key.public, rsa.RSAPublicKey) and key.public.public_numbers().n == n
    from authorizer.identity.jwks import read_jwks  # noqa: PLC0415

    spaced = read_jwks(json.dumps({"keys": [{**good, "n": good["n"][:10] + " "}]}).encode())
    assert spaced.keys == {} and "n is not base64url" in spaced.skipped[0].problem


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"keys": 7}', b"{" * 5000])
def test_malformed_key_sets_are_dependency_errors(body: bytes) -> None:
    with pytest.raises(DependencyError):
        parse_jwks(body)


def test_fetch_refuses_plain_http_off_loopback() -> None:
    with pytest.raises(Exception, match="https"):
        http_fetch("http://example.com/jwks.json")


def test_fetch_caps_the_size(jwks_server: JwksServer) -> None:
    jwks_server.document = {"keys": [], "padding": "x" * 100_000}
    with pytest.raises(DependencyError, match="larger"):
        http_fetch(jwks_server.url)


def test_handler_answers_500_not_401_when_the_jwks_is_down(
    authz: Authorizer, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """API Gateway caches a Deny for minutes; an outage must be an error (500), which it does not."""
    jwks_server.fail = True
    event = rest(user_token(issuer, "alice", clock.now), "GET", "/employees", "/employees")
    with pytest.raises(DependencyError):
        authz.handle(event)
    jwks_server.fail = False
    clock.advance(11)
    assert outcome(authz, event) == "Allow"
