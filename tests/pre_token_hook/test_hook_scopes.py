"""ACCESS_TOKEN_SCOPES: OAuth scopes the hook adds to access tokens, per app client ("*": all).
A scope describes what the application may do, so it is granted by client, never from a user's
item; V1 (ID token only) is untouched."""

from __future__ import annotations

from typing import Any

import pytest

from pre_token_hook.attributes import InMemoryAttributeSource
from pre_token_hook.config import load_settings
from pre_token_hook.errors import ConfigError
from pre_token_hook.handler import Runtime, handle
from tests.pre_token_hook.hook_support import sample_item, user_event


def run(version: str, scopes: str, client: str = "client1") -> dict[str, Any]:
    runtime = Runtime(
        load_settings({"ACCESS_TOKEN_SCOPES": scopes}),
        InMemoryAttributeSource.from_items([sample_item()]),
    )
    event = user_event(version=version)
    event["callerContext"]["clientId"] = client
    response: dict[str, Any] = handle(event, runtime)["response"]
    return response


def access_scopes(response: dict[str, Any]) -> list[str]:
    return list(response["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]["scopesToAdd"])


@pytest.mark.parametrize("version", ["2", "3"])
def test_scopes_for_every_client_and_for_one(version: str) -> None:
    scopes = '{"*": ["employee:read"], "client1": ["invoices:view"], "other": ["admin:all"]}'
    assert access_scopes(run(version, scopes)) == ["employee:read", "invoices:view"]
    assert access_scopes(run(version, scopes, client="other")) == ["employee:read", "admin:all"]


def test_no_setting_adds_no_scope() -> None:
    assert access_scopes(run("2", "")) == []


def test_v1_has_no_access_token_to_change() -> None:
    response = run("1", '{"*": ["employee:read"]}')
    assert "scopesToAdd" not in str(response)
    # The item was still read: V1 carries its claims, as strings.
    assert response["claimsOverrideDetails"]["claimsToAddOrOverride"]["tenant"] == "acme"


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"*": "employee:read"}', '{"*": ["two words"]}', '{"*": [""]}']
)
def test_malformed_setting_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="ACCESS_TOKEN_SCOPES"):
        load_settings({"ACCESS_TOKEN_SCOPES": text})
