"""The trusted issuers' settings: ``AUTH_ISSUER`` with its variables, or ``AUTH_ISSUERS``
(docs/architecture.md, Several issuers), each field checked at cold start; and the URL rules
every configured URL follows (https, or http on loopback).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from authorizer.errors import ConfigError
from authorizer.records import NamedTuple
from authorizer.strict_json import no_duplicate_keys

logger = logging.getLogger(__name__)

TokenUse = Literal["access", "id", "any"]
# Where an issuer's key set is, unless a key set URL or its OIDC discovery document says
# otherwise (DESIGN §2: AUTH_JWKS_URL's default).
WELL_KNOWN_JWKS = "/.well-known/jwks.json"

_COGNITO_ISSUER = re.compile(
    r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/([\w-]+_[0-9A-Za-z]+)\Z"
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


# --- reading them -------------------------------------------------------------------------------


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
        jwks_url = issuer.rstrip("/") + WELL_KNOWN_JWKS
    client_ids = _client_ids(fields, label)
    if pool_id and not client_ids:
        raise ConfigError(
            f"{label('client_ids')} is required for a Cognito issuer (the app client ids)"
        )
    token_use = (_text(fields, "token_use", label) or "access").strip().lower()
    if token_use not in ("access", "id", "any"):
        raise ConfigError(f"{label('token_use')} must be access, id or any, not {token_use!r}")
    audience = _text(fields, "audience", label) or None
    if token_use == "access" and not client_ids and audience is None:
        # Nothing says which API or application an access token must be for: any the issuer
        # signs is accepted (DESIGN §2 makes both optional for an OIDC issuer).
        logger.warning(
            "%s and %s are empty: any access token from %s is accepted, whatever its API "
            "or application", label("client_ids"), label("audience"), issuer,
        )  # fmt: skip
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
