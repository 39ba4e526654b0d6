"""Every setting, from environment variables, in one place; parsed once, at cold start
(docs/architecture.md, Interfaces users rely on).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from authorizer.errors import ConfigError, SchemaError
from authorizer.records import NamedTuple

logger = logging.getLogger(__name__)

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
        if claim is not None and url is not None and not per_tenant:
            raise ConfigError("CEDAR_TENANT_CLAIM needs {tenant} in CEDAR_POLICY_BUNDLE")
        raw_max = (env.get("CEDAR_TENANT_BUNDLES_MAX") or "100").strip()
        if not raw_max.isdigit() or not 1 <= int(raw_max) <= 100_000:
            raise ConfigError(f"CEDAR_TENANT_BUNDLES_MAX must be 1 to 100000, not {raw_max!r}")
        return cls(url, _number(env, "CEDAR_POLICY_REFRESH_SECONDS", 30.0), claim, int(raw_max))


# The fields of one AUTH_ISSUERS entry, and the single-issuer variable each one stands for.
ISSUER_FIELDS = {
    "issuer": "AUTH_ISSUER",
    "jwks_url": "AUTH_JWKS_URL",
    "client_ids": "AUTH_CLIENT_IDS",
    "token_use": "AUTH_TOKEN_USE",
    "audience": "AUTH_AUDIENCE",
    "groups_claim": "AUTH_GROUPS_CLAIM",
    "entity_id_prefix": "ENTITY_ID_PREFIX",
    "policy_bundle": None,  # no single-issuer variable: CEDAR_POLICY_BUNDLE is for every issuer
}
MAX_ISSUERS_FILE_BYTES = 1024 * 1024


class IssuerSettings(NamedTuple):
    """One trusted issuer: ``AUTH_ISSUER`` with its variables, or one entry of ``AUTH_ISSUERS``
    (docs/architecture.md, Several issuers)."""

    issuer: str
    jwks_url: str | None  # None: OIDC discovery (a non-Cognito issuer given no key set URL)
    client_ids: frozenset[str] = frozenset()
    token_use: TokenUse = "access"
    audience: str | None = None
    groups_claim: str = "groups"  # a dotted path reaches into a nested claim
    entity_id_prefix: str = ""
    # This issuer's policy bundle (authorizer/live.py); None: CEDAR_POLICY_BUNDLE, else the
    # packaged folder.
    policy_bundle: str | None = None

    @property
    def is_cognito(self) -> bool:
        return cognito_pool_id(self.issuer) is not None

    @property
    def discovery_url(self) -> str:
        """OpenID Connect Discovery 1.0, section 4: the issuer, without a trailing slash, and
        the well-known path."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


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
        # Every issuer's policies from a bundle: the packaged schema and entities are never read,
        # so their defaults are not looked for (two schemas in ./schemas refused to start).
        if bundle.url is not None or all(i.policy_bundle for i in issuers):
            schema_default = entities_default = _nothing
        else:
            schema_default, entities_default = find_schema, find_entities
        settings = cls(
            issuer=first.issuer,
            jwks_url=first.jwks_url,
            client_ids=first.client_ids,
            token_use=first.token_use,
            audience=first.audience,
            groups_claim=first.groups_claim,
            policy_dir=Path(env.get("CEDAR_POLICY_DIR") or "policies"),
            schema_path=_path_or_default(env.get("CEDAR_SCHEMA"), schema_default),
            entities_path=_path_or_default(env.get("CEDAR_ENTITIES"), entities_default),
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
        if bundle.tenant_claim is not None and not settings.uses_bundles:
            # (a misspelt CEDAR_POLICY_BUNDLE: every tenant decided by the packaged policies)
            raise ConfigError(
                "CEDAR_TENANT_CLAIM is set but no policy bundle is: set CEDAR_POLICY_BUNDLE "
                "(or an issuer's policy_bundle) with {tenant}"
            )
        return settings


# --- the issuers -------------------------------------------------------------------------------


def single_issuer(env: Mapping[str, str]) -> IssuerSettings:
    """The issuer of ``AUTH_ISSUER`` and its variables."""
    issuer = env.get("AUTH_ISSUER", "").strip()
    if not issuer:
        raise ConfigError(
            "AUTH_ISSUER is required: the exact `iss` of the tokens to accept "
            "(or AUTH_ISSUERS, a list of issuers)"
        )
    fields: dict[str, object] = {
        "issuer": issuer,
        "jwks_url": env.get("AUTH_JWKS_URL") or None,
        "client_ids": [c.strip() for c in env.get("AUTH_CLIENT_IDS", "").split(",") if c.strip()],
        "token_use": env.get("AUTH_TOKEN_USE"),
        "audience": env.get("AUTH_AUDIENCE") or None,
        "groups_claim": env.get("AUTH_GROUPS_CLAIM") or None,
        "entity_id_prefix": env.get("ENTITY_ID_PREFIX"),  # set but empty: no prefix
    }
    return issuer_settings(fields, lambda field: ISSUER_FIELDS[field] or field)


def issuers_from(listed: str, env: Mapping[str, str]) -> tuple[IssuerSettings, ...]:
    """``AUTH_ISSUERS``: a JSON list of issuer objects, or the path of a ``.json`` file holding
    one. A field left out takes the default its single-issuer variable has (not that variable's
    value: each issuer is described by its own entry alone)."""
    if (env.get("AUTH_ISSUER") or "").strip():
        raise ConfigError(
            "AUTH_ISSUER and AUTH_ISSUERS are both set: list every issuer in AUTH_ISSUERS "
            "and unset AUTH_ISSUER"
        )
    document = _issuers_document(listed)
    if not isinstance(document, list) or not document:
        raise ConfigError("AUTH_ISSUERS must be a non-empty JSON list of issuer objects")
    issuers: list[IssuerSettings] = []
    for index, entry in enumerate(document):
        where = f"AUTH_ISSUERS[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not a JSON object")
        unknown = sorted(set(entry) - set(ISSUER_FIELDS))
        if unknown:  # a misspelt field must not leave a check unmade
            raise ConfigError(
                f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; "
                f"the fields are {', '.join(ISSUER_FIELDS)}"
            )
        issuers.append(issuer_settings(entry, functools.partial(_entry_label, where)))
    check_distinct(issuers)
    left_over = [v for v in ISSUER_FIELDS.values() if v and v in env and v != "AUTH_ISSUER"]
    if left_over:
        logger.warning(
            "AUTH_ISSUERS is set: %s not read (give each issuer's settings in its entry)",
            ", ".join(left_over),
        )
    return tuple(issuers)


def _entry_label(where: str, field: str) -> str:
    return f"{where}.{field}"


def _issuers_document(listed: str) -> object:
    """The JSON of AUTH_ISSUERS: inline when it starts with ``[``, else a ``.json`` file."""
    source = "AUTH_ISSUERS"
    if not listed.startswith("["):
        if not listed.endswith(".json"):
            raise ConfigError(
                "AUTH_ISSUERS must be a JSON list of issuers or the path of a .json file "
                f"holding one, not {listed[:80]!r}"
            )
        try:
            with Path(listed).open("rb") as file:
                raw = file.read(MAX_ISSUERS_FILE_BYTES + 1)
        except OSError as error:
            raise ConfigError(f"AUTH_ISSUERS: cannot read {listed}: {error}") from None
        if len(raw) > MAX_ISSUERS_FILE_BYTES:
            raise ConfigError(f"AUTH_ISSUERS: {listed} is larger than {MAX_ISSUERS_FILE_BYTES} B")
        listed, source = raw.decode("utf-8", errors="replace"), listed
    try:
        return json.loads(listed, object_pairs_hook=no_duplicate_keys)
    except (ValueError, RecursionError) as error:
        raise ConfigError(f"AUTH_ISSUERS ({source}) is not valid JSON: {error}") from None


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook`` for what we read (tokens, AUTH_ISSUERS, links):
    a key given twice is refused, never the last one taken (the second of two `client_ids`, a
    link's second `template_id`, a token's second `exp` would silently win)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        names = [name for name, _ in pairs]
        twice = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"{str(twice)[:64]!r} is given twice in one object")
    return found


def issuer_settings(fields: Mapping[str, object], label: Callable[[str], str]) -> IssuerSettings:
    """One issuer from its fields (JSON values; absent or null: the default), each checked.
    ``label(field)`` names a field in an error: ``AUTH_TOKEN_USE``, ``AUTH_ISSUERS[1].token_use``.
    """
    issuer = (_text(fields, "issuer", label) or "").strip()
    if not issuer:
        raise ConfigError(f"{label('issuer')} is required: the exact `iss` of the tokens to accept")
    if "," in issuer:  # `iss` is one URL: "poolA,poolB" would refuse every token of both
        raise ConfigError(
            f"{label('issuer')} holds a comma ({issuer[:120]!r}): it names one issuer; "
            "list several issuers in AUTH_ISSUERS"
        )
    require_https(issuer, label("issuer"))
    pool_id = cognito_pool_id(issuer)
    jwks_url = _text(fields, "jwks_url", label)
    if jwks_url is not None:
        require_https(jwks_url, label("jwks_url"))
    elif pool_id:  # Cognito publishes no discovery-only key set: its well-known path
        jwks_url = issuer.rstrip("/") + "/.well-known/jwks.json"
    client_ids = _client_ids(fields, label)
    if pool_id and not client_ids:
        raise ConfigError(
            f"{label('client_ids')} is required for a Cognito issuer (the app client ids)"
        )
    token_use = (_text(fields, "token_use", label) or "access").strip().lower()
    if token_use not in ("access", "id", "any"):
        raise ConfigError(f"{label('token_use')} must be access, id or any, not {token_use!r}")
    audience = _text(fields, "audience", label) or None
    if token_use != "access" and not client_ids and audience is None:
        # DESIGN §2 makes the client list optional for an OIDC issuer: then any application's
        # ID token from it is accepted. Said loudly, since that is rarely what is meant.
        logger.warning(
            "%s is %s and %s is empty: any application's ID token from %s is accepted",
            label("token_use"), token_use, label("client_ids"), issuer,
        )  # fmt: skip
    groups_claim = _text(fields, "groups_claim", label) or (
        "cognito:groups" if pool_id else "groups"
    )
    if not all(groups_claim.split(".")):
        raise ConfigError(
            f"{label('groups_claim')} must be a claim name or a dotted path of names, "
            f"not {groups_claim!r}"
        )
    # Unset: the pool id (Cognito) or the issuer's host; set but empty: none.
    prefix = _text(fields, "entity_id_prefix", label)
    if prefix is None:
        prefix = pool_id or (urlsplit(issuer).hostname or "")
    return IssuerSettings(
        issuer=issuer,
        jwks_url=jwks_url,
        client_ids=client_ids,
        token_use=token_use,  # type: ignore[arg-type]  # checked just above
        audience=audience,
        groups_claim=groups_claim,
        entity_id_prefix=prefix,
        policy_bundle=_text(fields, "policy_bundle", label) or None,
    )


def check_distinct(issuers: list[IssuerSettings]) -> None:
    """Several issuers never share a principal: each has its own ``iss`` and its own prefix,
    not empty and without ``|``, so ``<prefix>|<sub>`` tells the issuer by what precedes the
    first ``|`` (an empty prefix would let one issuer's sub ``b|alice`` be issuer b's alice,
    and prefixes ``a`` and ``a|b`` would meet at ``a|b|x``)."""
    seen: set[str] = set()
    for entry in issuers:
        if entry.issuer in seen:
            raise ConfigError(f"AUTH_ISSUERS lists {entry.issuer!r} twice")
        seen.add(entry.issuer)
    if len(issuers) < 2:
        return
    owners: dict[str, str] = {}
    for entry in issuers:
        prefix = entry.entity_id_prefix
        if not prefix or "|" in prefix:
            raise ConfigError(
                f"AUTH_ISSUERS: the entity_id_prefix of {entry.issuer!r} is {prefix!r}; with "
                "several issuers each needs one of its own, not empty and without '|', so "
                "their principals cannot collide"
            )
        other = owners.setdefault(prefix, entry.issuer)
        if other != entry.issuer:
            raise ConfigError(
                f"AUTH_ISSUERS: {other!r} and {entry.issuer!r} have the same entity_id_prefix "
                f"{prefix!r}, so their principals would collide; give each its own"
            )


def _text(fields: Mapping[str, object], name: str, label: Callable[[str], str]) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{label(name)} must be a string, not {type(value).__name__}")


def _client_ids(fields: Mapping[str, object], label: Callable[[str], str]) -> frozenset[str]:
    value = fields.get("client_ids")
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
        raise ConfigError(f"{label('client_ids')} must be a list of client id strings")
    return frozenset(c.strip() for c in value)


def _nothing() -> Path | None:
    return None


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
