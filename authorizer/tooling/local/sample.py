"""The built-in defaults: the sample application and the local issuer, wired so that
`cedar-authz invoke`, `token` and `serve` run with nothing configured."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from authorizer.sdk.client import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.users import split_profile

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"\{\{(token|id_token):([\w.@-]+)\}\}")


def sample_environment(issuer: LocalIssuer, jwks_url: str) -> dict[str, str]:
    return {
        "AUTH_ISSUER": issuer.issuer,
        "AUTH_JWKS_URL": jwks_url,
        "AUTH_CLIENT_IDS": issuer.client_id,
        "CEDAR_POLICY_DIR": str(ROOT / "policies"),
        "CEDAR_SCHEMA": str(ROOT / "schemas" / "corp.cedarschema"),
        "CEDAR_ENTITIES": str(ROOT / "entities" / "corp.json"),
        "ENTITY_ID_PREFIX": "",  # the sample policies name groups without a pool-id prefix
    }


def sample_authorizer(issuer: LocalIssuer) -> Authorizer:
    """The sample app against the local issuer; its key set is handed over in process."""
    jwks = json.dumps(issuer.jwks()).encode()
    env = sample_environment(issuer, "http://127.0.0.1/.well-known/jwks.json")
    return Authorizer.from_env(env, fetch=lambda _url: jwks)


def sample_token(issuer: LocalIssuer, user: str, token_use: str = "access") -> str:
    groups, claims = split_profile(user)
    return issuer.token(user, token_use=token_use, groups=groups, extra=claims)


def fill_tokens(event: Any, issuer: LocalIssuer) -> Any:
    """Replace ``{{token:USER}}`` / ``{{id_token:USER}}`` in every string of an event with a
    fresh token of that sample user (the files in events/ use them: tokens expire)."""
    if isinstance(event, str):
        return PLACEHOLDER.sub(
            lambda m: sample_token(
                issuer, m.group(2), "id" if m.group(1) == "id_token" else "access"
            ),
            event,
        )
    if isinstance(event, list):
        return [fill_tokens(item, issuer) for item in event]
    if isinstance(event, Mapping):
        return {key: fill_tokens(value, issuer) for key, value in event.items()}
    return event


def configured() -> bool:
    """True when the environment configures a real issuer (or several): then no defaults apply."""
    return bool(os.environ.get("AUTH_ISSUER") or os.environ.get("AUTH_ISSUERS"))
