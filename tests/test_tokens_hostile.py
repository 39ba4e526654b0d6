"""Hostile and malformed tokens: every one ends in 401 (``Exception("Unauthorized")``), never
an Allow, a Deny or any other exception. Tokens are forged byte by byte where PyJWT would refuse
to produce them; the JWKS is real and served over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from authorizer.pdp import Authorizer
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from tests.conftest import FakeClock, JwksServer
from tests.helpers import USERS, outcome, rest


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_json(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def forge(
    header: Any, payload: Any, key: SigningKey | None = None, secret: bytes | None = None
) -> str:
    """A JWS with exactly these bytes: RS256 with ``key``, HS256 with ``secret``, else unsigned."""
    signing_input = f"{b64(encode_json(header))}.{b64(encode_json(payload))}"
    if key is not None:
        signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,union-attr]
    elif secret is not None:
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    else:
        signature = b""
    return f"{signing_input}.{b64(signature)}"


class Ctx:
    def __init__(
        self, issuer: LocalIssuer, rsa_key: SigningKey, ec_key: SigningKey, now: float
    ) -> None:
        self.issuer, self.rsa_key, self.ec_key, self.now = issuer, rsa_key, ec_key, now

    def claims(self, **changes: Any) -> dict[str, Any]:
        profile = {k: v for k, v in USERS["alice"].items() if k != "groups"}
        claims = self.issuer.claims("alice", groups=["engineering"], extra=profile, now=self.now)
        for name, value in changes.items():
            if value is _DELETE:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.rsa_key.kid}
        header.update(changes)
        return {k: v for k, v in header.items() if v is not _DELETE}

    def signed(self, header: dict[str, Any] | None = None, **claims: Any) -> str:
        return forge(header or self.header(), self.claims(**claims), self.rsa_key)

    def public_pem(self) -> bytes:
        return self.rsa_key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


_DELETE = object()
ATTACKER = SigningKey.rsa("attacker", bits=2048)


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def _dup_payload(c: Ctx, name: str, value: Any) -> bytes:
    body = json.dumps(c.claims())[:-1]
    return (body + f', "{name}": {json.dumps(value)}}}').encode()


HOSTILE: dict[str, Callable[[Ctx], str]] = {
    "alg-none": lambda c: forge(c.header(alg="none"), c.claims()),
    "alg-None": lambda c: forge(c.header(alg="None"), c.claims()),
    "alg-NONE": lambda c: forge(c.header(alg="NONE"), c.claims()),
    "alg-nOnE": lambda c: forge(c.header(alg="nOnE"), c.claims()),
    "alg-none-with-signature": lambda c: forge(c.header(alg="none"), c.claims())[:-1] + "QUJD",
    "alg-none-no-kid": lambda c: forge({"alg": "none"}, c.claims()),
    "hs256-with-public-key-pem": lambda c: forge(
        c.header(alg="HS256"), c.claims(), secret=c.public_pem()
    ),
    "hs256-with-kid-as-secret": lambda c: forge(
        c.header(alg="HS256"), c.claims(), secret=c.rsa_key.kid.encode()
    ),
    "hs512-claimed": lambda c: forge(c.header(alg="HS512"), c.claims(), secret=c.public_pem()),
    "ps256-claimed": lambda c: forge(c.header(alg="PS256"), c.claims(), c.rsa_key),
    "alg-missing": lambda c: forge(c.header(alg=_DELETE), c.claims(), c.rsa_key),
    "alg-not-a-string": lambda c: forge(c.header(alg=["RS256"]), c.claims(), c.rsa_key),
    "stripped-signature": lambda c: c.signed().rsplit(".", 1)[0] + ".",
    "junk-signature": lambda c: c.signed().rsplit(".", 1)[0] + "." + b64(b"\x00" * 256),
    "signature-of-other-token": lambda c: (
        c.signed(sub="bob").rsplit(".", 1)[0] + "." + c.signed().rsplit(".", 1)[1]
    ),
    "payload-swapped-after-signing": lambda c: ".".join(
        [
            c.signed().split(".")[0],
            b64(encode_json(c.claims(sub="admin"))),
            c.signed().split(".")[2],
        ]
    ),
    "attacker-key-our-kid": lambda c: forge(c.header(), c.claims(), ATTACKER),
    "unknown-kid": lambda c: forge(c.header(kid="no-such-kid"), c.claims(), c.rsa_key),
    "kid-10kb": lambda c: forge(c.header(kid="k" * 10_240), c.claims(), c.rsa_key),
    "kid-missing": lambda c: forge(c.header(kid=_DELETE), c.claims(), c.rsa_key),
    "kid-not-a-string": lambda c: forge(c.header(kid=7), c.claims(), c.rsa_key),
    "rsa-alg-on-ec-key": lambda c: forge(c.header(kid=c.ec_key.kid), c.claims(), c.rsa_key),
    "jku-header": lambda c: forge(
        c.header(jku="https://attacker.example/jwks.json"), c.claims(), ATTACKER
    ),
    "jwk-header": lambda c: forge(c.header(jwk=ATTACKER.public_jwk()), c.claims(), ATTACKER),
    "x5u-header": lambda c: forge(
        c.header(x5u="https://attacker.example/cert.pem"), c.claims(), c.rsa_key
    ),
    "x5c-header": lambda c: forge(c.header(x5c=["MIIB"]), c.claims(), c.rsa_key),
    "crit-header": lambda c: forge(c.header(crit=["exp"]), c.claims(), c.rsa_key),
    "two-segments": lambda c: ".".join(c.signed().split(".")[:2]),
    "four-segments": lambda c: c.signed() + ".AAAA",
    "five-segments-jwe": lambda c: "eyJhbGciOiJSU0EtT0FFUCJ9.AAAA.BBBB.CCCC.DDDD",
    "one-segment": lambda c: "eyJhbGciOiJSUzI1NiJ9",
    "not-base64": lambda c: "!!!." + c.signed().split(".", 1)[1],
    "header-not-json": lambda c: b64(b"{not json") + "." + c.signed().split(".", 1)[1],
    "payload-not-json": lambda c: forge(c.header(), b"not json", c.rsa_key),
    "payload-json-array": lambda c: forge(c.header(), [1, 2, 3], c.rsa_key),
    "header-json-string": lambda c: b64(b'"RS256"') + "." + c.signed().split(".", 1)[1],
    "wrong-issuer": lambda c: c.signed(
        iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OTHER"
    ),
    "partial-issuer": lambda c: c.signed(iss=c.issuer.issuer[:-3]),
    "issuer-trailing-slash": lambda c: c.signed(iss=c.issuer.issuer + "/"),
    "issuer-other-case": lambda c: c.signed(iss=c.issuer.issuer.upper()),
    "issuer-as-list": lambda c: c.signed(iss=[c.issuer.issuer]),
    "issuer-missing": lambda c: c.signed(iss=_DELETE),
    "exp-missing": lambda c: c.signed(exp=_DELETE),
    "exp-string": lambda c: c.signed(exp=str(int(c.now) + 3600)),
    "exp-boolean": lambda c: c.signed(exp=True),
    "exp-infinite": lambda c: forge(
        c.header(),
        json.dumps(c.claims()).replace(f'"exp": {int(c.now) + 3600}', '"exp": 1e400').encode(),
        c.rsa_key,
    ),
    "exp-nan": lambda c: forge(
        c.header(), json.dumps(c.claims(exp=float("nan"))).encode(), c.rsa_key
    ),
    "iat-missing": lambda c: c.signed(iat=_DELETE),
    "iat-string": lambda c: c.signed(iat=str(int(c.now))),
    "expired": lambda c: c.signed(exp=int(c.now) - 60, iat=int(c.now) - 3660),
    "iat-in-future": lambda c: c.signed(iat=int(c.now) + 600, exp=int(c.now) + 4200),
    "nbf-in-future": lambda c: c.signed(nbf=int(c.now) + 600),
    "nbf-string": lambda c: c.signed(nbf=str(int(c.now))),
    "id-token-for-access": lambda c: c.signed(
        token_use="id", aud=c.issuer.client_id, client_id=_DELETE
    ),
    "token-use-unknown": lambda c: c.signed(token_use="admin"),
    "wrong-client-id": lambda c: c.signed(client_id="someone-elses-client"),
    "client-id-missing": lambda c: c.signed(client_id=_DELETE),
    "sub-missing": lambda c: c.signed(sub=_DELETE),
    "sub-not-a-string": lambda c: c.signed(sub={"id": "alice"}),
    "one-megabyte": lambda c: c.signed(padding="x" * 1_000_000),
    "deeply-nested-claims": lambda c: c.signed(nested=_nested(40)),
    "very-deeply-nested-claims": lambda c: forge(
        c.header(), b'{"a":' * 3000 + b"1" + b"}" * 3000, c.rsa_key
    ),
    "duplicate-exp": lambda c: forge(c.header(), _dup_payload(c, "exp", 99999999999), c.rsa_key),
    "duplicate-sub": lambda c: forge(c.header(), _dup_payload(c, "sub", "admin"), c.rsa_key),
    "duplicate-alg-in-header": lambda c: (
        b64(f'{{"alg": "none", "kid": "{c.rsa_key.kid}", "alg": "RS256"}}'.encode())
        + "."
        + c.signed().split(".", 1)[1]
    ),
    # A lone surrogate is valid JSON, but no Unicode text: cedarpy's entity parse failed (500).
    "lone-surrogate-in-sub": lambda c: forge(
        c.header(), json.dumps(c.claims(sub="ali\ud800ce")).encode(), c.rsa_key
    ),
    "lone-surrogate-in-a-group": lambda c: forge(
        c.header(), json.dumps(c.claims(**{"cognito:groups": ["eng\udfff"]})).encode(), c.rsa_key
    ),
    "lone-surrogate-raw-utf8": lambda c: forge(  # U+DC80 as UTF-8 bytes (surrogatepass)
        c.header(),
        json.dumps(c.claims(department="X")).encode().replace(b'"X"', b'"\xed\xb2\x80"'),
        c.rsa_key,
    ),
}

CREDENTIALS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "no-header": lambda c: rest(None, "GET", "/employees", "/employees"),
    "empty-bearer": lambda c: _with_header({"Authorization": "Bearer "}),
    "basic-scheme": lambda c: _with_header({"Authorization": "Basic YWxpY2U6cHc="}),
    "token-scheme": lambda c: _with_header({"Authorization": "Token " + c.signed()}),
    "bearer-with-two-tokens": lambda c: _with_header(
        {"Authorization": f"Bearer {c.signed()} {c.signed()}"}
    ),
    "two-authorization-headers": lambda c: _with_multi(
        {"Authorization": [f"Bearer {c.signed()}"] * 2}
    ),
    "authorization-in-two-casings": lambda c: _with_multi(
        {
            "Authorization": [f"Bearer {c.signed()}"],
            "authorization": [f"Bearer {c.signed(sub='bob')}"],
        }
    ),
    "http-v2-comma-joined": lambda c: _v2(
        {"authorization": f"Bearer {c.signed()},Bearer {c.signed()}"}
    ),
}


def _with_header(headers: dict[str, str]) -> dict[str, Any]:
    event = rest(None, "GET", "/employees", "/employees")
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    return event


def _with_multi(headers: dict[str, list[str]]) -> dict[str, Any]:
    event = rest(None, "GET", "/employees", "/employees")
    event["headers"] = {k: v[-1] for k, v in headers.items()}
    event["multiValueHeaders"] = headers
    return event


def _v2(headers: dict[str, str]) -> dict[str, Any]:
    return apigw.http_v2_event("GET", "/employees", "/employees", headers=headers)


@pytest.fixture
def ctx(issuer: LocalIssuer, rsa_key: SigningKey, ec_key: SigningKey, clock: FakeClock) -> Ctx:
    return Ctx(issuer, rsa_key, ec_key, clock.now)


def test_the_control_token_is_allowed(authz: Authorizer, ctx: Ctx) -> None:
    """The forging helper makes good tokens: without this, every 401 below proves nothing."""
    assert outcome(authz, rest(ctx.signed(), "GET", "/employees", "/employees")) == "Allow"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_token_is_unauthorized(authz: Authorizer, ctx: Ctx, name: str) -> None:
    token = HOSTILE[name](ctx)
    assert outcome(authz, rest(token, "GET", "/employees", "/employees")) == "401"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_token_in_a_token_event_is_unauthorized(
    authz: Authorizer, ctx: Ctx, name: str
) -> None:
    event = apigw.token_event("GET", "/employees", "Bearer " + HOSTILE[name](ctx))
    assert outcome(authz, event) == "401"


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
def test_bad_credentials_are_refused_before_any_key_fetch(
    authz: Authorizer, ctx: Ctx, jwks_server: JwksServer, name: str
) -> None:
    assert outcome(authz, CREDENTIALS[name](ctx)) == "401"
    assert jwks_server.hits == 0


@pytest.mark.parametrize(
    "name",
    [
        "one-megabyte",
        "kid-10kb",
        "five-segments-jwe",
        "alg-none",
        "hs256-with-public-key-pem",
        "jku-header",
        "not-base64",
        "very-deeply-nested-claims",
        "duplicate-alg-in-header",
    ],
)
def test_shape_and_header_failures_fetch_no_key(
    authz: Authorizer, ctx: Ctx, jwks_server: JwksServer, name: str
) -> None:
    assert outcome(authz, rest(HOSTILE[name](ctx), "GET", "/employees", "/employees")) == "401"
    assert jwks_server.hits == 0


def test_suite_is_at_least_forty_cases() -> None:
    assert len(HOSTILE) + len(CREDENTIALS) >= 40
