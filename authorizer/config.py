"""Every setting, from environment variables, in one place; parsed once, at cold start
(docs/architecture.md, Interfaces users rely on).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from authorizer.errors import ConfigError, SchemaError

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


class AwsSettings(NamedTuple):
    """Where the AWS clients go. Lambda sets AWS_REGION (boto3 itself reads only
    AWS_DEFAULT_REGION); AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL) points tests and local
    runs at a moto server."""

    region: str | None = None
    dynamodb_endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AwsSettings:
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            dynamodb_endpoint=env.get("AWS_ENDPOINT_URL_DYNAMODB")
            or env.get("AWS_ENDPOINT_URL")
            or None,
        )


# AWS's own defaults: the region and endpoints boto3 finds by itself.
AWS_DEFAULTS = AwsSettings()


class StoreSettings(NamedTuple):
    table: str | None = None  # ENTITY_STORE_TABLE: DynamoDB; unset: the JSON file
    cache_ttl: float = 60.0  # ENTITY_CACHE_TTL seconds
    cache_size: int = 10_000  # ENTITY_CACHE_SIZE entities
    user_groups_from_store: bool = False  # USER_GROUPS_FROM_STORE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StoreSettings:
        raw_size = (env.get("ENTITY_CACHE_SIZE") or "10000").strip()
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= 10_000_000:
            raise ConfigError(f"ENTITY_CACHE_SIZE must be a whole number >= 1, not {raw_size!r}")
        return cls(
            table=(env.get("ENTITY_STORE_TABLE") or "").strip() or None,
            cache_ttl=_number(env, "ENTITY_CACHE_TTL", 60.0),
            cache_size=int(raw_size),
            user_groups_from_store=_flag(env, "USER_GROUPS_FROM_STORE", False),
        )


class RevocationSettings(NamedTuple):
    table: str | None = None  # REVOCATION_TABLE; unset: no revocation check
    cache_ttl: float = 30.0  # REVOCATION_CACHE_TTL seconds
    fail_open: bool = False  # REVOCATION_FAIL_OPEN

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RevocationSettings:
        return cls(
            table=(env.get("REVOCATION_TABLE") or "").strip() or None,
            cache_ttl=_number(env, "REVOCATION_CACHE_TTL", 30.0),
            fail_open=_flag(env, "REVOCATION_FAIL_OPEN", False),
        )


class Settings(NamedTuple):
    issuer: str
    jwks_url: str
    client_ids: frozenset[str] = frozenset()
    token_use: TokenUse = "access"
    audience: str | None = None
    groups_claim: str = "cognito:groups"
    policy_dir: Path = Path("policies")
    schema_path: Path | None = None  # unset: the one schema in ./schemas; CEDAR_SCHEMA=none: None
    entities_path: Path | None = None  # unset: the one *.json in ./entities; none: None
    namespace: str | None = None
    entity_id_prefix: str = ""
    decision_cache_ttl: float = 60.0
    leeway: float = 5.0
    http_simple_responses: bool = True
    validate_requests: bool = False
    template_links: Path | None = None  # CEDAR_TEMPLATE_LINKS: the Cedar CLI's links file
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    store: StoreSettings = StoreSettings()  # ENTITY_STORE_TABLE and its cache
    revocation: RevocationSettings = RevocationSettings()  # REVOCATION_TABLE and its cache
    aws: AwsSettings = AWS_DEFAULTS  # region and endpoints of the AWS clients

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
        return cls(
            issuer=issuer,
            jwks_url=jwks_url,
            client_ids=client_ids,
            token_use=token_use,  # type: ignore[arg-type]  # checked just above
            audience=env.get("AUTH_AUDIENCE") or None,
            groups_claim=env.get("AUTH_GROUPS_CLAIM")
            or ("cognito:groups" if pool_id else "groups"),
            policy_dir=Path(env.get("CEDAR_POLICY_DIR") or "policies"),
            schema_path=_path_or_default(env.get("CEDAR_SCHEMA"), find_schema),
            entities_path=_path_or_default(env.get("CEDAR_ENTITIES"), find_entities),
            namespace=env.get("CEDAR_NAMESPACE"),
            entity_id_prefix=prefix,
            decision_cache_ttl=_number(env, "DECISION_CACHE_TTL", 60.0),
            leeway=_number(env, "AUTH_LEEWAY", 5.0),
            http_simple_responses=_flag(env, "HTTP_API_SIMPLE_RESPONSES", True),
            validate_requests=_flag(env, "CEDAR_VALIDATE_REQUESTS", False),
            template_links=Path(env["CEDAR_TEMPLATE_LINKS"])
            if env.get("CEDAR_TEMPLATE_LINKS")
            else None,
            store=StoreSettings.from_env(env),
            revocation=RevocationSettings.from_env(env),
            aws=AwsSettings.from_env(env),
        )


def _path_or_default(raw: str | None, find: Callable[[], Path | None]) -> Path | None:
    """A path setting: given, ``none`` (explicitly nothing), or unset (``find`` the default)."""
    if raw is None or not raw.strip():
        return find()
    return None if raw.strip().lower() == "none" else Path(raw)


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


SCHEMA_SUFFIXES = (".cedarschema", ".cedarschema.json")


def find_entities(directory: Path = Path("entities")) -> Path | None:
    """The one ``*.json`` entity store in ``entities/`` (the default of CEDAR_ENTITIES)."""
    if not directory.is_dir():
        return None
    found = sorted(p for p in directory.iterdir() if p.suffix == ".json" and p.is_file())
    if len(found) > 1:
        raise ConfigError(f"{directory} holds {len(found)} JSON files; set CEDAR_ENTITIES to one")
    return found[0] if found else None


def find_schema(directory: Path = Path("schemas")) -> Path | None:
    """The one schema in ``schemas/`` (the default of CEDAR_SCHEMA)."""
    if not directory.is_dir():
        return None
    found = sorted(p for p in directory.iterdir() if p.name.endswith(SCHEMA_SUFFIXES))
    if len(found) > 1:
        raise SchemaError(
            f"{directory} holds {len(found)} schemas; set CEDAR_SCHEMA to one of them"
        )
    return found[0] if found else None
