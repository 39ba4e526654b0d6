"""Properties (hypothesis) of reading a key set: whatever the document holds, ``parse_jwks``
answers a dict of usable keys or raises ``DependencyError``, nothing else; whatever members sit
beside the issuer's good key, a real token signed with it still verifies (the real verifier,
through the cache); and every key kept is a public RS256 key of 2048 bits or more or a P-256
key that can verify one of the algorithms we accept."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.config import Settings
from authorizer.errors import DependencyError, InvalidToken
from authorizer.identity.jwks import MAX_KEYS, MIN_RSA_BITS, JwksCache, parse_jwks
from authorizer.identity.tokens import TokenVerifier
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from authorizer.tooling.local.sample import sample_environment
from tests.conftest import NOW, FakeClock

GOOD_KID = "the-good-kid"
GOOD = SigningKey.rsa(GOOD_KID)
ISSUER = LocalIssuer(keys=[GOOD])
URL = "http://127.0.0.1/.well-known/jwks.json"
SETTINGS = Settings.from_env(sample_environment(ISSUER, URL))
TOKEN = ISSUER.token("alice", now=NOW)

_RSA = [k.public_jwk() for k in (GOOD, SigningKey.rsa("other"), SigningKey.rsa("short", 1024))]
_EC = [SigningKey.ec("ec").public_jwk()]
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: json writes and reads them
    | st.text(max_size=12)
)
junk = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


def one_of_or_junk(*choices: object) -> st.SearchStrategy[Any]:
    named = st.sampled_from(choices)
    return named | named | junk  # the named variants twice as often as junk


kids = (
    st.sampled_from(["k1", "k2", "other", "ec", "short", ""]) | st.text(max_size=10) | junk
).filter(
    lambda kid: kid != GOOD_KID  # another key under the good kid would be the issuer's own clash
)
member_fields = {
    "kid": kids,
    "kty": one_of_or_junk("RSA", "EC", "oct", "OKP", "rsa", ""),
    "alg": one_of_or_junk("RS256", "ES256", "none", "None", "HS256", "PS256", "RS512", "ES384", ""),
    "use": one_of_or_junk("sig", "enc", ""),
    "key_ops": one_of_or_junk(["verify"], ["sign"], ["encrypt"], []),
    "n": one_of_or_junk(*(k["n"] for k in _RSA), "", "!!", "AQAB", "A" * 300),
    "e": one_of_or_junk("AQAB", "Aw", "Ag", "AA", "", "!!"),
    "crv": one_of_or_junk("P-256", "P-384", "P-521", "secp256k1", "Ed25519", ""),
    "x": one_of_or_junk(_EC[0]["x"], _EC[0]["y"], "", "!!"),
    "y": one_of_or_junk(_EC[0]["y"], _EC[0]["x"], "", "!!"),
    "k": one_of_or_junk("c2VjcmV0", ""),
    "d": one_of_or_junk("AQAB"),
}
# Members that look like keys (each field present or not, real or junk), real keys, and junk.
key_like = st.builds(
    lambda fields, extra: {**extra, **fields},
    st.fixed_dictionaries({}, optional=member_fields),
    st.dictionaries(st.text(max_size=6), junk, max_size=2),
)
real = st.sampled_from([{**k, "kid": f"real-{i}"} for i, k in enumerate(_RSA[1:] + _EC)])


def mutate(base: dict[str, Any], changes: list[dict[str, Any]], removed: set[str]) -> Any:
    jwk = {name: value for name, value in base.items() if name not in removed}
    for change in changes:
        jwk.update(change)
    return jwk


# A real key with one or two fields changed or removed (alg none on a real RSA key, a real key
# on another curve, one without its exponent...); the likeliest to bite change more often.
changed = [*sorted(set(member_fields) - {"kid"}), "alg", "alg", "kty", "crv"]
change = st.sampled_from(changed).flatmap(
    lambda name: member_fields[name].map(lambda value: {name: value})
)
mutated = st.builds(
    mutate,
    real,
    st.lists(change, min_size=1, max_size=2),
    st.sets(st.sampled_from(["n", "e", "x", "y", "crv", "kty", "alg", "use"]), max_size=1),
)
members = st.lists(key_like | real | mutated | mutated | junk, max_size=12)


def verifies_with(body: bytes) -> str:
    keys = JwksCache(URL, fetch=lambda _url: body, clock=FakeClock())
    return TokenVerifier(SETTINGS, keys, clock=FakeClock()).verify(TOKEN).kid


def parses_or_dependency_error(body: bytes) -> dict[str, Any] | None:
    try:
        return parse_jwks(body)
    except DependencyError:
        return None


@PROPERTY
@given(members, st.integers(min_value=0), st.dictionaries(st.text(max_size=6), junk, max_size=2))
def test_the_good_key_verifies_among_any_members(
    others: list[Any], position: int, top: dict[str, Any]
) -> None:
    placed = list(others)
    placed.insert(position % (len(placed) + 1), GOOD.public_jwk())
    body = json.dumps({**top, "keys": placed}).encode()
    assert verifies_with(body) == GOOD_KID
    kept = parse_jwks(body)
    for kid, jwk in kept.items():
        key = jwk.public
        if isinstance(key, rsa.RSAPublicKey):
            assert key.key_size >= MIN_RSA_BITS and jwk.alg == "RS256", kid
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey), kid
            assert isinstance(key.curve, ec.SECP256R1) and jwk.alg == "ES256", kid


@PROPERTY
@given(
    st.one_of(
        junk,
        st.fixed_dictionaries({"keys": junk}),
        members.map(lambda m: {"keys": m}),
        members.map(lambda m: {"keys": m}),
    )
)
def test_any_document_is_keys_or_a_dependency_error(document: Any) -> None:
    keys = parses_or_dependency_error(json.dumps(document).encode())
    shaped = isinstance(document, dict) and isinstance(document.get("keys"), list)
    assert (keys is not None) == shaped


@PROPERTY
@given(st.binary(max_size=300) | junk.map(lambda v: json.dumps(v).encode()[:-1]))
def test_any_bytes_are_keys_or_a_dependency_error(body: bytes) -> None:
    parses_or_dependency_error(body)


def test_deep_nesting_in_a_member_is_skipped() -> None:
    deep: Any = GOOD.public_jwk()["n"]
    for _ in range(200):
        deep = {"n": [deep]}
    body = json.dumps({"keys": [{"kid": "deep", "kty": "RSA", "n": deep, "e": "AQAB"},
                                GOOD.public_jwk()]}).encode()  # fmt: skip
    assert list(parse_jwks(body)) == [GOOD_KID]


def test_a_key_set_over_the_limit_is_refused_whole_not_cut() -> None:
    """Members past 100 were ignored: a token of the 101st key was refused as the caller's
    fault (401 unknown_kid). Now the set is an issuer-side error (500; held keys serve on)."""
    filler = [{"kid": f"f{i}", "kty": "oct"} for i in range(MAX_KEYS)]
    with pytest.raises(DependencyError, match="over"):
        parse_jwks(json.dumps({"keys": [*filler, GOOD.public_jwk()]}).encode())
    assert GOOD_KID in parse_jwks(json.dumps({"keys": [*filler[1:], GOOD.public_jwk()]}).encode())


def _unsigned_kid(token_claims: dict[str, Any], key: SigningKey) -> str:
    """A token signed by ``key`` whose header has no `kid`."""
    return jwt.encode(token_claims, key.private, algorithm=key.alg)


def test_a_token_without_kid_is_verified_by_a_set_of_one_key_without_kid() -> None:
    """`kid` is optional (RFC 7517): an issuer publishing one key without one had every token
    refused (its member skipped as "no kid", the token as bad_kid)."""
    member = {k: v for k, v in GOOD.public_jwk().items() if k != "kid"}
    token = _unsigned_kid(ISSUER.claims("alice", now=NOW), GOOD)
    assert "kid" not in jwt.get_unverified_header(token)
    body = json.dumps({"keys": [member]}).encode()
    keys = JwksCache(URL, fetch=lambda _url: body, clock=FakeClock())
    verified = TokenVerifier(SETTINGS, keys, clock=FakeClock()).verify(token)
    assert verified.claims["sub"] == "alice"
    # Another key's token without kid is a bad signature, not a pass.
    other = _unsigned_kid(ISSUER.claims("alice", now=NOW), SigningKey.rsa("other"))
    with pytest.raises(InvalidToken):
        TokenVerifier(SETTINGS, keys, clock=FakeClock()).verify(other)
    # With several keys, a member without kid is skipped; a token without one has no key.
    several = json.dumps({"keys": [member, SigningKey.rsa("two").public_jwk()]}).encode()
    assert list(parse_jwks(several)) == ["two"]
    keys = JwksCache(URL, fetch=lambda _url: several, clock=FakeClock())
    with pytest.raises(InvalidToken) as refused:
        TokenVerifier(SETTINGS, keys, clock=FakeClock()).verify(token)
    assert refused.value.reason == "unknown_kid"
    # A kid given empty is refused as such.
    empty = jwt.encode(ISSUER.claims("alice", now=NOW), GOOD.private, "RS256", {"kid": ""})
    with pytest.raises(InvalidToken) as refused:
        TokenVerifier(SETTINGS, keys, clock=FakeClock()).verify(empty)
    assert refused.value.reason == "bad_kid"


def test_the_one_key_without_kid_is_fetched_again_when_the_issuer_rotates_it() -> None:
    """An issuer publishing one key without kid replaces it under the same (absent) kid: its new
    tokens failed the old key's signature for up to max_age (an hour). A signature that fails
    the one kid-less key fetches the set again, at most once per cooldown."""
    old, new = SigningKey.rsa("old"), SigningKey.rsa("new")
    published: list[SigningKey | None] = [old]

    def fetch(_url: str) -> bytes:
        key = published[0]
        if key is None:
            raise DependencyError("JWKS unreachable")
        member = {k: v for k, v in key.public_jwk().items() if k != "kid"}
        return json.dumps({"keys": [member]}).encode()

    clock = FakeClock()
    keys = JwksCache(URL, fetch=fetch, clock=clock, cooldown=10.0)
    verifier = TokenVerifier(SETTINGS, keys, clock=FakeClock())
    claims = ISSUER.claims("alice", now=NOW)
    assert verifier.verify(_unsigned_kid(claims, old)).claims["sub"] == "alice"
    assert keys.fetches == 1
    published[0] = new
    rotated = _unsigned_kid(claims, new)
    with pytest.raises(InvalidToken):  # within the cooldown of the last fetch: not fetched
        verifier.verify(rotated)
    assert keys.fetches == 1
    clock.advance(10.0)
    assert verifier.verify(rotated).claims["sub"] == "alice"
    assert keys.fetches == 2
    # The set cannot be fetched when a token fails the key held: maybe the rotated-in key, so
    # an outage (500), not the caller's fault (it was a 401).
    down = published[0]
    published[0] = None
    clock.advance(10.0)
    with pytest.raises(DependencyError):
        verifier.verify(_unsigned_kid(claims, SigningKey.rsa("newer")))
    published[0] = down
    # A forged token fetches once per cooldown at most, however many come.
    clock.advance(10.0)
    forged = _unsigned_kid(claims, SigningKey.rsa("forger"))
    for _ in range(5):
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(forged)
        assert refused.value.reason == "bad_signature"
    assert keys.fetches == 4
