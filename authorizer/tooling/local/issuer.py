"""A local token issuer that looks like Cognito: RS256 keys, a JWKS document, and ID and access
tokens with Cognito's claims. Tests, `cedar-authz token` and the local gateway all mint with it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

LOCAL_POOL_ID = "us-east-1_LOCAL0001"
LOCAL_ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{LOCAL_POOL_ID}"
LOCAL_CLIENT_ID = "localclient0000000000000001"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey

    @classmethod
    def rsa(cls, kid: str = "local-rsa-1", bits: int = 2048) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @classmethod
    def ec(cls, kid: str = "local-ec-1") -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = json.loads(RSAAlgorithm.to_jwk(public))
        else:
            jwk = json.loads(ECAlgorithm.to_jwk(public))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return dict(jwk)


@dataclass
class LocalIssuer:
    issuer: str = LOCAL_ISSUER
    client_id: str = LOCAL_CLIENT_ID
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.rsa()])
    lifetime: int = 3600

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    def sign(
        self,
        claims: Mapping[str, Any],
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        key = key or self.keys[0]
        return jwt.encode(
            dict(claims),
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid, **(headers or {})},
        )

    def claims(
        self,
        sub: str,
        *,
        token_use: str = "access",
        groups: list[str] | None = None,
        scope: str = "openid employee:read",
        extra: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """Cognito-shaped claims: access tokens carry `client_id` and `scope`, ID tokens `aud`."""
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": self.issuer,
            "token_use": token_use,
            "auth_time": issued,
            "iat": issued,
            "exp": issued + self.lifetime,
            "jti": str(uuid.uuid4()),
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
        }
        if groups:
            claims["cognito:groups"] = list(groups)
        if token_use == "access":
            claims.update({"client_id": self.client_id, "scope": scope, "username": sub})
        else:
            claims.update({"aud": self.client_id, "cognito:username": sub})
        claims.update(extra or {})
        return claims

    def token(self, sub: str, **kwargs: Any) -> str:
        return self.sign(self.claims(sub, **kwargs))
