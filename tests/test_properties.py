"""Property tests of the whole handler: whatever the token's header and claims, whatever the
event, the outcome is exactly one of Allow, Deny (403), 401 (``Exception("Unauthorized")``) or
a dependency error (500), and no token the issuer did not sign is ever allowed.

Real keys, a real JWKS over HTTP, the real handler; the application is ``tests/test_hardening``'s
small ``Shop`` (nothing here knows the sample app).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.errors import DependencyError
from authorizer.gateway.response import policy_allows
from authorizer.pdp import Authorizer
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from tests.conftest import FakeClock
from tests.test_hardening import shop  # noqa: F401  # the fixture
from tests.test_tokens_hostile import ATTACKER, b64, encode_json

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([10**400, -(10**400), 2**63, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def answer(authz: Authorizer, event: Any) -> str:
    """'Allow', 'Deny', '401' or '500' from the handler; anything else fails the property."""
    try:
        response = authz.handle(event)
    except DependencyError:
        return "500"
    except Exception as error:
        assert str(error) == "Unauthorized", f"{type(error).__name__}: {error}"
        return "401"
    if "isAuthorized" in response:
        assert isinstance(response["isAuthorized"], bool)
        return "Allow" if response["isAuthorized"] else "Deny"
    return (
        "Allow" if policy_allows(response, event.get("methodArn") or event["routeArn"]) else "Deny"
    )


# --- tokens ----------------------------------------------------------------------------------

HEADER_VALUES = {
    "alg": st.sampled_from(["RS256", "ES256", "HS256", "none", "None", "PS256", "RS512", ""])
    | JSON_VALUES,
    "kid": st.sampled_from(["test-rsa-1", "test-ec-1", "attacker", ""]) | JSON_VALUES,
    "typ": st.sampled_from(["JWT", "at+jwt", "JWE"]) | JSON_VALUES,
    "cty": st.sampled_from(["JWT"]) | JSON_VALUES,
    "jku": st.just("http://127.0.0.1:1/evil.json"),
    "jwk": JSON_VALUES,
    "crit": st.lists(st.text(max_size=5), max_size=2),
    "b64": st.booleans(),
}
CLAIM_VALUES = {
    "iss": st.sampled_from(["issuer", "https://evil.example", "issuer/"]) | JSON_VALUES,
    "sub": st.sampled_from(["u1", "", "a" * 600]) | JSON_VALUES,
    "exp": st.sampled_from(["later", "earlier"]) | JSON_VALUES,
    "iat": st.sampled_from(["now"]) | JSON_VALUES,
    "nbf": st.sampled_from(["now", "later"]) | JSON_VALUES,
    "token_use": st.sampled_from(["access", "id", "refresh"]) | JSON_VALUES,
    "client_id": st.sampled_from(["testclient", "other"]) | JSON_VALUES,
    "aud": st.sampled_from(["testclient", "other"]) | JSON_VALUES,
    "cognito:groups": st.lists(st.sampled_from(["readers", "suspended"]), max_size=3) | JSON_VALUES,
    "scope": st.text(max_size=20) | JSON_VALUES,
    "tenant": JSON_VALUES,
}


@st.composite
def tokens(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A header, claims (each field kept as the issuer makes it, changed, or removed) and how
    the token is signed."""
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": "test-rsa-1"}
    for name, values in HEADER_VALUES.items():
        choice = draw(st.sampled_from(["keep", "keep", "change", "remove"]))
        if choice == "change":
            header[name] = draw(values)
        elif choice == "remove":
            header.pop(name, None)
    claims: dict[str, Any] = {}
    for name, values in CLAIM_VALUES.items():
        choice = draw(st.sampled_from(["keep", "keep", "change", "remove"]))
        claims[name] = "keep" if choice == "keep" else draw(values) if choice == "change" else None
    signer = draw(st.sampled_from(["issuer", "issuer", "attacker", "hmac-public-key", "none"]))
    return header, claims, signer


def _claims(issuer: LocalIssuer, now: float, drawn: dict[str, Any]) -> dict[str, Any]:
    claims = issuer.claims("u1", groups=["readers"], now=now)
    symbolic = {"issuer": issuer.issuer, "later": now + 600, "earlier": now - 600, "now": now}
    for name, value in drawn.items():
        if value is None:
            claims.pop(name, None)
        elif value != "keep":
            claims[name] = symbolic.get(value, value) if isinstance(value, str) else value
    return claims


def _rs256(key: SigningKey, data: bytes) -> bytes:
    private = key.private
    assert isinstance(private, rsa.RSAPrivateKey)
    return private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _signed(header: dict[str, Any], claims: dict[str, Any], signer: str, key: SigningKey) -> str:
    """RS256 with the issuer's key or the attacker's, HS256 keyed with the issuer's public key
    (the algorithm-confusion attack), or no signature."""
    signing_input = f"{b64(encode_json(header))}.{b64(encode_json(claims))}"
    data = signing_input.encode()
    if signer == "issuer":
        signature = _rs256(key, data)
    elif signer == "attacker":
        signature = _rs256(ATTACKER, data)
    elif signer == "hmac-public-key":
        public = key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signature = hmac.new(public, data, hashlib.sha256).digest()
    else:
        signature = b""
    return f"{signing_input}.{b64(signature)}" if signature else f"{signing_input}."


@PROPERTY
@given(tokens())
def test_no_token_the_issuer_did_not_sign_is_allowed(
    shop: Authorizer,  # noqa: F811
    issuer: LocalIssuer,
    rsa_key: SigningKey,
    clock: FakeClock,
    drawn: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    header, claims, signer = drawn
    token = _signed(header, _claims(issuer, clock(), claims), signer, rsa_key)
    event = apigw.rest_request_event(
        "GET", "/docs", "/docs", headers={"Authorization": f"Bearer {token}"}
    )
    result = answer(shop, event)
    assert result in {"Allow", "Deny", "401", "500"}
    if signer != "issuer" or header.get("alg") != "RS256" or header.get("kid") != "test-rsa-1":
        assert result != "Allow"


# --- events of the four kinds ----------------------------------------------------------------


def _events(token: str) -> list[dict[str, Any]]:
    bearer = f"Bearer {token}"
    return [
        apigw.token_event("GET", "/docs", bearer),
        apigw.rest_request_event("POST", "/pay", "/pay", {"Authorization": bearer},
                                 {"amount": "50"}),
        apigw.http_v1_event("GET", "/docs/d1", "/docs/{docId}", {"Authorization": bearer}),
        apigw.http_v2_event("POST", "/pay", "/pay", {"authorization": bearer}, {"amount": "50"}),
    ]  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a field of the event, nested ones included."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[int, list[tuple[tuple[Any, ...], Any, bool]]]:
    kind = draw(st.integers(min_value=0, max_value=3))
    template = _events("token")[kind]
    paths = _paths(template)
    changes = draw(
        st.lists(st.tuples(st.sampled_from(paths), JSON_VALUES, st.booleans()), max_size=3)
    )
    return kind, changes


@PROPERTY
@given(mutated_events())
def test_every_event_ends_in_exactly_one_outcome(
    shop: Authorizer,  # noqa: F811
    issuer: LocalIssuer,
    clock: FakeClock,
    mutation: tuple[int, list[tuple[tuple[Any, ...], Any, bool]]],
) -> None:
    kind, changes = mutation
    token = issuer.token("u1", groups=["readers"], now=clock())
    event = copy.deepcopy(_events(token)[kind])
    for path, value, remove in changes:
        node: Any = event
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            if remove:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    assert answer(shop, event) in {"Allow", "Deny", "401", "500"}


@pytest.mark.parametrize("kind", range(4), ids=["TOKEN", "REST REQUEST", "HTTP 1.0", "HTTP 2.0"])
def test_the_unmutated_events_are_allowed(
    shop: Authorizer,  # noqa: F811
    issuer: LocalIssuer,
    clock: FakeClock,
    kind: int,
) -> None:
    """The mutations start from events the policies allow: a refusal is the mutation's doing."""
    token = issuer.token("u1", groups=["readers"], now=clock())
    assert answer(shop, _events(token)[kind]) == "Allow"
