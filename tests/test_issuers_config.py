"""AUTH_ISSUERS in config.Settings: the list (inline or a .json file), each entry's defaults,
and the configurations refused at start-up rather than answered with a silent 401 or a
principal two issuers share (docs/architecture.md, Several issuers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authorizer.config import Settings
from authorizer.errors import ConfigError
from authorizer.issuer_settings import IssuerSettings

POOL = "us-east-1_AbC123xyz"
COGNITO = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
AUTH0 = "https://tenant.eu.auth0.com/"
KEYCLOAK = "https://sso.example.com/realms/acme"


def issuers(*entries: Any, **env: str) -> Settings:
    return Settings.from_env({"AUTH_ISSUERS": json.dumps(list(entries)), **env})


def refused(*entries: Any, **env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        issuers(*entries, **env)
    return str(caught.value)


def test_each_field_defaults_as_its_single_issuer_variable() -> None:
    s = issuers({"issuer": COGNITO, "client_ids": ["app"]}, {"issuer": KEYCLOAK})
    cognito, keycloak = s.trusted_issuers
    assert cognito == IssuerSettings(
        issuer=COGNITO,
        jwks_url=f"{COGNITO}/.well-known/jwks.json",  # Cognito: its well-known key set
        client_ids=frozenset({"app"}),
        token_use="access",
        audience=None,
        groups_claim="cognito:groups",
        entity_id_prefix=POOL,
    )
    assert keycloak == IssuerSettings(
        issuer=KEYCLOAK,
        jwks_url=None,  # any other issuer: OIDC discovery
        groups_claim="groups",
        entity_id_prefix="sso.example.com",
    )
    assert keycloak.discovery_url == f"{KEYCLOAK}/.well-known/openid-configuration"
    # The single-issuer fields repeat the first entry (code that reads them sees an issuer).
    assert (s.issuer, s.jwks_url, s.entity_id_prefix) == (COGNITO, cognito.jwks_url, POOL)


def test_every_field_is_read_and_policy_bundle_is_kept() -> None:
    entry = {
        "issuer": AUTH0,
        "jwks_url": "https://tenant.eu.auth0.com/.well-known/jwks.json",
        "client_ids": [" spa ", "cli"],
        "token_use": "ID",
        "audience": "https://api.example.com",
        "groups_claim": "https://example.com/roles",
        "entity_id_prefix": "auth0",
        "policy_bundle": "s3://bundles/auth0.json",
    }
    (auth0,) = issuers(entry).trusted_issuers
    assert auth0 == IssuerSettings(
        issuer=AUTH0,
        jwks_url="https://tenant.eu.auth0.com/.well-known/jwks.json",
        client_ids=frozenset({"spa", "cli"}),
        token_use="id",
        audience="https://api.example.com",
        groups_claim="https://example.com/roles",
        entity_id_prefix="auth0",
        policy_bundle="s3://bundles/auth0.json",
    )


def test_the_file_form(tmp_path: Path) -> None:
    entries = [{"issuer": KEYCLOAK, "entity_id_prefix": "kc"},
               {"issuer": COGNITO, "client_ids": ["app"]}]  # fmt: skip
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps(entries))
    from_file = Settings.from_env({"AUTH_ISSUERS": f" {path} "})
    assert from_file.trusted_issuers == issuers(*entries).trusted_issuers
    assert [i.entity_id_prefix for i in from_file.trusted_issuers] == ["kc", POOL]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/nowhere/issuers.json", "cannot read /nowhere/issuers.json"),
        ("issuers.yaml", "JSON list of issuers or the path of a .json file"),
        ("[{", "is not valid JSON"),
        ("[]", "non-empty JSON list"),
        ('{"issuer": "https://a.example"}', "JSON list of issuers or the path"),
        ('["https://a.example"]', "AUTH_ISSUERS[0] is not a JSON object"),
    ],
)
def test_unusable_lists_are_refused(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        Settings.from_env({"AUTH_ISSUERS": value})


def test_a_file_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuer": KEYCLOAK}))
    with pytest.raises(ConfigError, match="non-empty JSON list"):
        Settings.from_env({"AUTH_ISSUERS": str(path)})


def test_an_unknown_field_is_refused_not_ignored() -> None:
    # `client_id` for `client_ids`: ignored, it would drop the client check without a word.
    message = refused({"issuer": KEYCLOAK, "client_id": ["spa"]})
    assert "AUTH_ISSUERS[0] has unknown field(s) 'client_id'" in message
    assert "client_ids" in message  # the fields it could have meant


def test_a_field_given_twice_is_refused() -> None:
    raw = f'[{{"issuer": "{KEYCLOAK}", "client_ids": ["a"], "client_ids": []}}]'
    with pytest.raises(ConfigError, match="given twice"):
        Settings.from_env({"AUTH_ISSUERS": raw})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"jwks_url": "https://k.example"}, r"AUTH_ISSUERS\[0\]\.issuer is required"),
        ({"issuer": "http://sso.example.com"}, r"AUTH_ISSUERS\[0\]\.issuer must be an https://"),
        ({"issuer": KEYCLOAK, "jwks_url": "http://k.example"}, r"\.jwks_url must be an https://"),
        ({"issuer": COGNITO}, r"\.client_ids is required for a Cognito issuer"),
        ({"issuer": KEYCLOAK, "client_ids": "a,b"}, r"\.client_ids must be a list"),
        ({"issuer": KEYCLOAK, "client_ids": ["a", ""]}, r"\.client_ids must be a list"),
        ({"issuer": KEYCLOAK, "token_use": "refresh"}, r"\.token_use must be access, id or any"),
        ({"issuer": KEYCLOAK, "groups_claim": "realm_access..roles"}, r"\.groups_claim must be"),
        ({"issuer": KEYCLOAK, "audience": ["a"]}, r"\.audience must be a string, not list"),
        ({"issuer": 7}, r"AUTH_ISSUERS\[0\]\.issuer must be a string"),
        ({"issuer": f"{KEYCLOAK},{AUTH0}"}, r"\.issuer holds a comma"),
    ],
)
def test_an_unusable_entry_names_its_field(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        issuers(entry)


def test_auth_issuer_and_auth_issuers_together_are_refused() -> None:
    message = refused({"issuer": KEYCLOAK}, AUTH_ISSUER=AUTH0)
    assert "AUTH_ISSUER and AUTH_ISSUERS are both set" in message
    assert issuers({"issuer": KEYCLOAK}, AUTH_ISSUER=" ").issuer == KEYCLOAK  # empty is unset


@pytest.mark.parametrize("listed", [f"{COGNITO},{KEYCLOAK}", f"{KEYCLOAK}, {AUTH0}", ","])
def test_a_comma_in_auth_issuer_is_a_configuration_error(listed: str) -> None:
    """It used to be accepted, and every token of either issuer was then a 401."""
    with pytest.raises(ConfigError, match=r"AUTH_ISSUER holds a comma.*AUTH_ISSUERS"):
        Settings.from_env({"AUTH_ISSUER": listed, "AUTH_CLIENT_IDS": "app"})


def test_two_issuers_with_one_prefix_are_refused() -> None:
    message = refused(
        {"issuer": KEYCLOAK, "entity_id_prefix": "acme"},
        {"issuer": AUTH0, "entity_id_prefix": "acme"},
    )
    assert "have the same entity_id_prefix 'acme'" in message
    # By default too: two realms of one Keycloak share its host.
    message = refused({"issuer": KEYCLOAK}, {"issuer": "https://sso.example.com/realms/other"})
    assert "have the same entity_id_prefix 'sso.example.com'" in message


@pytest.mark.parametrize("prefixes", [("", "b"), ("a", "a|b"), ("a|", "b")])
def test_prefixes_that_could_meet_are_refused(prefixes: tuple[str, str]) -> None:
    """With an empty prefix, issuer a's sub ``b|alice`` is issuer b's alice; with ``a`` and
    ``a|b``, sub ``b|x`` of one and ``x`` of the other are both ``a|b|x``."""
    message = refused(
        {"issuer": KEYCLOAK, "entity_id_prefix": prefixes[0]},
        {"issuer": AUTH0, "entity_id_prefix": prefixes[1]},
    )
    assert "not empty and without '|'" in message


def test_one_issuer_may_keep_an_empty_prefix() -> None:
    (only,) = issuers({"issuer": KEYCLOAK, "entity_id_prefix": ""}).trusted_issuers
    assert only.entity_id_prefix == ""


def test_an_issuer_listed_twice_is_refused() -> None:
    message = refused(
        {"issuer": KEYCLOAK, "entity_id_prefix": "a"}, {"issuer": KEYCLOAK, "entity_id_prefix": "b"}
    )
    assert "lists 'https://sso.example.com/realms/acme' twice" in message


def test_single_issuer_variables_are_not_read_with_auth_issuers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    (keycloak,) = issuers(
        {"issuer": KEYCLOAK}, AUTH_CLIENT_IDS="left-over", ENTITY_ID_PREFIX=""
    ).trusted_issuers
    assert keycloak.client_ids == frozenset() and keycloak.entity_id_prefix == "sso.example.com"
    assert "AUTH_CLIENT_IDS, ENTITY_ID_PREFIX not read" in caplog.text


def test_the_single_issuer_is_one_trusted_issuer() -> None:
    s = Settings.from_env({"AUTH_ISSUER": KEYCLOAK, "AUTH_GROUPS_CLAIM": "realm_access.roles"})
    assert s.issuers == ()
    (only,) = s.trusted_issuers
    assert only.groups_claim == "realm_access.roles" and only.jwks_url is None


def test_accepting_any_token_of_an_issuer_is_said_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An OIDC issuer with no client list and no audience accepts any token it signs, for any
    API or application: allowed (DESIGN §2 makes both optional), said loudly."""
    base = {"AUTH_ISSUER": "https://idp.example.com", "CEDAR_SCHEMA": "none"}
    for extra, said in (
        ({}, "any access token from https://idp.example.com is accepted"),
        ({"AUTH_TOKEN_USE": "id"}, "any application's ID token"),
        ({"AUTH_AUDIENCE": "https://api.example.com"}, None),
        ({"AUTH_CLIENT_IDS": "app"}, None),
    ):
        caplog.clear()
        Settings.from_env({**base, **extra})
        if said is None:
            assert "is accepted" not in caplog.text, extra
        else:
            assert said in caplog.text, extra
