"""Settings from environment variables (docs/architecture.md, Interfaces users rely on).

Parsed once, at cold start.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from authorizer.errors import ConfigError

TokenUse = Literal["access", "id", "any"]

_COGNITO_ISSUER = re.compile(
    r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/([\w-]+_[0-9A-Za-z]+)$"
)


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # not "127.evil.example"
    except ValueError:
        return False


def require_https(url: str, what: str) -> str:
    """http:// is refused except on loopback (local runs and tests)."""
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and is_loopback_url(url)):
        return url
    raise ConfigError(f"{what} must be an https:// URL (http:// only on loopback): {url!r}")


def cognito_pool_id(issuer: str) -> str | None:
    match = _COGNITO_ISSUER.match(issuer)
    return match.group(1) if match else None


class Settings(NamedTuple):
    issuer: str
    jwks_url: str
    client_ids: frozenset[str] = frozenset()
    token_use: TokenUse = "access"
    audience: str | None = None
    groups_claim: str = "cognito:groups"
    policy_dir: Path = Path("policies")
    schema_path: Path | None = None  # None: the one schema in ./schemas, if any
    use_schema: bool = True  # CEDAR_SCHEMA=none: no schema (no validation, no coercion)
    entities_path: Path | None = None  # None: the one *.json in ./entities, if any
    use_entities: bool = True  # CEDAR_ENTITIES=none: no entity store
    namespace: str | None = None
    entity_id_prefix: str = ""
    decision_cache_ttl: float = 60.0
    leeway: float = 5.0
    http_simple_responses: bool = True
    validate_requests: bool = False
    template_links: Path | None = None  # CEDAR_TEMPLATE_LINKS: the Cedar CLI's links file
    algorithms: tuple[str, ...] = ("RS256", "ES256")

    @property
    def is_cognito(self) -> bool:
        return cognito_pool_id(self.issuer) is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        issuer = env.get("AUTH_ISSUER", "").strip()
        if not issuer:
            raise ConfigError("AUTH_ISSUER is required: the exact `iss` of the tokens to accept")
        require_https(issuer, "AUTH_ISSUER")
        jwks_url = require_https(
            env.get("AUTH_JWKS_URL") or issuer.rstrip("/") + "/.well-known/jwks.json",
            "AUTH_JWKS_URL",
        )
        client_ids = frozenset(
            c.strip() for c in env.get("AUTH_CLIENT_IDS", "").split(",") if c.strip()
        )
        pool_id = cognito_pool_id(issuer)
        if pool_id and not client_ids:
            raise ConfigError(
                "AUTH_CLIENT_IDS is required for a Cognito issuer (the app client ids)"
            )
        token_use = env.get("AUTH_TOKEN_USE", "access").strip().lower()
        if token_use not in ("access", "id", "any"):
            raise ConfigError(f"AUTH_TOKEN_USE must be access, id or any, not {token_use!r}")
        # ENTITY_ID_PREFIX unset: the pool id (Cognito) or the issuer's host; set but empty: none.
        prefix = env.get("ENTITY_ID_PREFIX")
        if prefix is None:
            prefix = pool_id or (urlsplit(issuer).hostname or "")
        schema = env.get("CEDAR_SCHEMA")
        entities = env.get("CEDAR_ENTITIES")
        return cls(
            issuer=issuer,
            jwks_url=jwks_url,
            client_ids=client_ids,
            token_use=token_use,  # type: ignore[arg-type]  # checked just above
            audience=env.get("AUTH_AUDIENCE") or None,
            groups_claim=env.get("AUTH_GROUPS_CLAIM")
            or ("cognito:groups" if pool_id else "groups"),
            policy_dir=Path(env.get("CEDAR_POLICY_DIR") or "policies"),
            schema_path=Path(schema) if schema and schema.lower() != "none" else None,
            use_schema=(schema or "").lower() != "none",
            entities_path=Path(entities) if entities and entities.lower() != "none" else None,
            use_entities=(entities or "").lower() != "none",
            namespace=env.get("CEDAR_NAMESPACE"),
            entity_id_prefix=prefix,
            decision_cache_ttl=_number(env, "DECISION_CACHE_TTL", 60.0),
            leeway=_number(env, "AUTH_LEEWAY", 5.0),
            http_simple_responses=_flag(env, "HTTP_API_SIMPLE_RESPONSES", True),
            validate_requests=_flag(env, "CEDAR_VALIDATE_REQUESTS", False),
            template_links=Path(env["CEDAR_TEMPLATE_LINKS"])
            if env.get("CEDAR_TEMPLATE_LINKS")
            else None,
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 <= value <= 86_400:
        raise ConfigError(f"{name} must be between 0 and 86400, not {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")
