"""The local issuer's signing key, shared by `cedar-authz serve` and `cedar-authz token`.

The two commands run in different processes, so the RSA key lives on disk: a PEM file (mode 0600)
in the state directory (``CEDAR_AUTHZ_HOME``, default ``~/.cedar-authz``), generated on first use.
Its ``kid`` is derived from the public key, so a regenerated key never reuses an old ``kid``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authorizer.errors import ConfigError
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from authorizer.tooling.local.users import split_profile

HOME_VARIABLE = "CEDAR_AUTHZ_HOME"
KEY_FILE = "signing-key.pem"
JWKS_PATH = "/.well-known/jwks.json"
TOKEN_PATH = "/oauth2/token"


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    configured = env.get(HOME_VARIABLE, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cedar-authz"


def load_signing_key(home: Path) -> SigningKey:
    """The persisted key, created (atomically, 0600) when missing."""
    path = home / KEY_FILE
    if not path.exists():
        _create(path)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"cannot read the signing key {path} (delete it to regenerate): {error}"
        ) from error
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ConfigError(f"{path} is not an RSA key (delete it to regenerate)")
    return SigningKey(key_id(private), "RS256", private)


def key_id(private: rsa.RSAPrivateKey) -> str:
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "local-" + hashlib.sha256(der).hexdigest()[:16]


def local_issuer(home: Path) -> LocalIssuer:
    """The Cognito-shaped local issuer (``LOCAL_ISSUER``) signing with the shared key."""
    return LocalIssuer(keys=[load_signing_key(home)])


def mint(
    issuer: LocalIssuer, user: str, token_use: str = "access", now: float | None = None
) -> str:
    """A token of a sample user with the claims the pre-token hook adds (KeyError: unknown)."""
    groups, claims = split_profile(user)
    return issuer.token(user, token_use=token_use, groups=groups, extra=claims, now=now)


def discovery(issuer: LocalIssuer, base: str) -> dict[str, Any]:
    """The OpenID discovery document of the local issuer served at ``base``. ``issuer`` stays
    Cognito-shaped (LOCAL_ISSUER), so tokens do not depend on the port they were minted on."""
    return {
        "issuer": issuer.issuer,
        "jwks_uri": base + JWKS_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def token_answer(
    issuer: LocalIssuer, form: Mapping[str, object], now: float
) -> tuple[int, dict[str, Any]]:
    """The token endpoint: ``username=<sample user>`` gets both tokens, as Cognito answers."""
    user = form.get("username")
    if not isinstance(user, str) or not user:
        return 400, {"error": "invalid_request", "error_description": "username is required"}
    try:
        access, id_token = (mint(issuer, user, use, now) for use in ("access", "id"))
    except KeyError as error:
        return 400, {"error": "invalid_grant", "error_description": str(error.args[0])}
    body = {"access_token": access, "id_token": id_token, "token_type": "Bearer",
            "expires_in": issuer.lifetime}  # fmt: skip
    return 200, body


def _create(path: Path) -> None:
    """Write a new key next to ``path`` and link it into place: a concurrent first use by the
    other command either wins the link or reads the winner's complete file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
