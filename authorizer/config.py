"""Every setting, from environment variables; parsed once, at cold start (docs/architecture.md,
Interfaces users rely on). The issuers' own fields are read by ``issuer_settings``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from authorizer.errors import ConfigError, SchemaError
from authorizer.issuer_settings import (
    IssuerSettings,
    TokenUse,
    cognito_pool_id,
    issuers_from,
    single_issuer,
)
from authorizer.records import NamedTuple

logger = logging.getLogger(__name__)


class AwsSettings(NamedTuple):
    """Where the AWS clients go. Lambda sets AWS_REGION (boto3 itself reads only
    AWS_DEFAULT_REGION); AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL)
    point tests and local runs at a moto server."""

    region: str | None = None
    dynamodb_endpoint: str | None = None
    s3_endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AwsSettings:
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            dynamodb_endpoint=env.get("AWS_ENDPOINT_URL_DYNAMODB")
            or env.get("AWS_ENDPOINT_URL")
            or None,
            s3_endpoint=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
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


TENANT_PLACEHOLDER = "{tenant}"


class BundleSettings(NamedTuple):
    """Policies that change without a deploy (docs/architecture.md, Policy bundles)."""

    url: str | None = None  # CEDAR_POLICY_BUNDLE: a path or s3://bucket/key; None: the folder
    refresh_seconds: float = 30.0  # CEDAR_POLICY_REFRESH_SECONDS; 0: never re-checked
    tenant_claim: str | None = None  # CEDAR_TENANT_CLAIM: whose value fills {tenant}
    tenants_max: int = 100  # CEDAR_TENANT_BUNDLES_MAX: tenant bundles kept loaded (LRU)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BundleSettings:
        url = (env.get("CEDAR_POLICY_BUNDLE") or "").strip() or None
        claim = (env.get("CEDAR_TENANT_CLAIM") or "").strip() or None
        per_tenant = url is not None and TENANT_PLACEHOLDER in url
        if per_tenant and claim is None:
            raise ConfigError("CEDAR_POLICY_BUNDLE has {tenant}: set CEDAR_TENANT_CLAIM too")
        raw_max = (env.get("CEDAR_TENANT_BUNDLES_MAX") or "100").strip()
        if not raw_max.isdigit() or not 1 <= int(raw_max) <= 100_000:
            raise ConfigError(f"CEDAR_TENANT_BUNDLES_MAX must be 1 to 100000, not {raw_max!r}")
        return cls(url, _number(env, "CEDAR_POLICY_REFRESH_SECONDS", 30.0), claim, int(raw_max))


class Settings(NamedTuple):
    issuer: str
    jwks_url: str | None  # None: OIDC discovery (see IssuerSettings)
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
    bundle: BundleSettings = BundleSettings()  # CEDAR_POLICY_BUNDLE and its refresh
    aws: AwsSettings = AWS_DEFAULTS  # region and endpoints of the AWS clients
    # AUTH_ISSUERS, in its order; empty with AUTH_ISSUER, whose issuer is the fields above (which,
    # with AUTH_ISSUERS, repeat its first entry). Read it through ``trusted_issuers``.
    issuers: tuple[IssuerSettings, ...] = ()

    @property
    def is_cognito(self) -> bool:
        return cognito_pool_id(self.issuer) is not None

    @property
    def uses_bundles(self) -> bool:
        """Policies from bundles (CEDAR_POLICY_BUNDLE, or an issuer's policy_bundle), not from
        the packaged folder alone."""
        return self.bundle.url is not None or any(i.policy_bundle for i in self.trusted_issuers)

    @property
    def trusted_issuers(self) -> tuple[IssuerSettings, ...]:
        """Every issuer whose tokens are accepted: AUTH_ISSUERS, or the one of AUTH_ISSUER."""
        if self.issuers:
            return self.issuers
        return (
            IssuerSettings(
                self.issuer,
                self.jwks_url,
                self.client_ids,
                self.token_use,
                self.audience,
                self.groups_claim,
                self.entity_id_prefix,
            ),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        listed = (env.get("AUTH_ISSUERS") or "").strip()
        issuers = issuers_from(listed, env) if listed else (single_issuer(env),)
        first = issuers[0]
        bundle = BundleSettings.from_env(env)
        # Every issuer's policies from a bundle: the packaged schema is never read, so its default
        # is not looked for (two schemas in ./schemas refused to start). CEDAR_ENTITIES has no
        # default (DESIGN §2): a folder's entities/*.json, found from the working directory, was
        # another application's store for an authorizer that named none.
        bundled = bundle.url is not None or all(i.policy_bundle for i in issuers)
        schema_default = _nothing if bundled else find_schema
        settings = cls(
            issuer=first.issuer,
            jwks_url=first.jwks_url,
            client_ids=first.client_ids,
            token_use=first.token_use,
            audience=first.audience,
            groups_claim=first.groups_claim,
            policy_dir=Path(env.get("CEDAR_POLICY_DIR") or "policies"),
            schema_path=_path_or_default(env.get("CEDAR_SCHEMA"), schema_default),
            entities_path=_path_or_default(env.get("CEDAR_ENTITIES"), _nothing),
            namespace=env.get("CEDAR_NAMESPACE"),
            entity_id_prefix=first.entity_id_prefix,
            decision_cache_ttl=_number(env, "DECISION_CACHE_TTL", 60.0),
            leeway=_number(env, "AUTH_LEEWAY", 5.0),
            http_simple_responses=_flag(env, "HTTP_API_SIMPLE_RESPONSES", True),
            validate_requests=_flag(env, "CEDAR_VALIDATE_REQUESTS", False),
            template_links=Path(env["CEDAR_TEMPLATE_LINKS"])
            if env.get("CEDAR_TEMPLATE_LINKS")
            else None,
            store=StoreSettings.from_env(env),
            revocation=RevocationSettings.from_env(env),
            bundle=bundle,
            aws=AwsSettings.from_env(env),
            issuers=issuers if listed else (),
        )
        urls = [bundle.url, *(i.policy_bundle for i in settings.trusted_issuers)]
        for url in urls:
            if url and "://" in url and not url.startswith("s3://"):
                # (read as a local path, an https:// bundle failed every request, or denied
                # every tenant as having none)
                raise ConfigError(
                    f"a policy bundle is a local path or s3://bucket/key, not {url[:120]!r}"
                )
        if bundle.tenant_claim is not None and not any(u and TENANT_PLACEHOLDER in u for u in urls):
            # (a misspelt CEDAR_POLICY_BUNDLE: every tenant decided by the packaged policies or
            # one fixed bundle). An issuer's own {tenant} bundle beside a fixed
            # CEDAR_POLICY_BUNDLE for the others is fine.
            raise ConfigError(
                "CEDAR_TENANT_CLAIM is set but no policy bundle has {tenant}: set "
                "CEDAR_POLICY_BUNDLE (or an issuer's policy_bundle) with {tenant}"
            )
        return settings


def _nothing() -> Path | None:
    return None


def warn_of_unread_entities(environ: Mapping[str, str], settings: Settings) -> None:
    """Where the Lambda builds its authorizer: an entities file left unread because
    CEDAR_ENTITIES is unset (and no bundle or DynamoDB store stands in for it)."""
    named = (environ.get("CEDAR_ENTITIES") or "").strip()
    if not named and not settings.uses_bundles and not settings.store.table:
        _warn_of_unread_entities()


def _warn_of_unread_entities() -> None:
    """Before stop 22 an unset CEDAR_ENTITIES took the one file in ./entities (the authoring
    CLI still does): say so where such a file is left unread, so that an upgrade does not lose
    a store (and the forbids its parents feed) without a word. Once per file and process (the
    settings are read twice at a cold start)."""
    try:
        found = find_entities()
    except ConfigError:  # several files: none would have been taken either
        return
    if found is not None:
        _warn_once(found.resolve())


@functools.cache
def _warn_once(found: Path) -> None:
    logger.warning(
        "%s is not read: CEDAR_ENTITIES is unset, so there is no entity store (set it to "
        "that file, or to `none` to say so)",
        found,
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
    """The one ``*.json`` entity store in ``entities/``: the authoring CLI's default when neither
    ``--entities`` nor CEDAR_ENTITIES names one (the authorizer's is none)."""
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
