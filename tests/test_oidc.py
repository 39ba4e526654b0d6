"""Generic OIDC issuers (Auth0, Okta, Keycloak shapes), no schema: token kinds are told apart
without `token_use`, groups come from the configured claim, ids carry the issuer's host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authorizer.errors import InvalidRequest, InvalidToken
from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from tests.conftest import FakeClock, JwksServer
from tests.helpers import decide, outcome, rest

POLICIES = """
@id("group-admins")
permit (principal in Api::UserGroup::"127.0.0.1|admins", action == Api::Action::"get /things", resource);

@id("permission-claim")
permit (principal, action == Api::Action::"get /things", resource)
when { principal has permissions && principal.permissions.contains("read:things") };
"""


@pytest.fixture
def oidc(jwks_server: JwksServer, rsa_key: SigningKey) -> LocalIssuer:
    base = jwks_server.base
    issuer = LocalIssuer(issuer=base, client_id="spa-client", keys=[rsa_key])
    jwks_server.document = issuer.jwks()
    # No AUTH_JWKS_URL: the key set is found by OIDC discovery.
    jwks_server.discovery = {"issuer": base, "jwks_uri": jwks_server.url}
    return issuer


def make(tmp_path: Path, oidc: LocalIssuer, clock: FakeClock, **env: str) -> Authorizer:
    (tmp_path / "p.cedar").write_text(POLICIES)
    settings = {
        "AUTH_ISSUER": oidc.issuer,
        "AUTH_CLIENT_IDS": "spa-client",
        "CEDAR_POLICY_DIR": str(tmp_path),
        "CEDAR_NAMESPACE": "Api",
        "CEDAR_SCHEMA": "none",
        **env,
    }
    return Authorizer.from_env(settings, clock=clock)


def base_claims(oidc: LocalIssuer, now: float, **extra: Any) -> dict[str, Any]:
    return {"iss": oidc.issuer, "sub": "user-1", "iat": int(now), "exp": int(now) + 600, **extra}


def test_auth0_access_token_with_permissions(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    authz = make(tmp_path, oidc, clock, AUTH_AUDIENCE="https://api.example.com")
    claims = base_claims(oidc, clock.now, aud=["https://api.example.com", f"{oidc.issuer}/userinfo"],
                         azp="spa-client", scope="openid read:things", permissions=["read:things"])  # fmt: skip
    response = authz.handle(rest(oidc.sign(claims), "GET", "/things", "/things"))
    assert outcome(authz, rest(oidc.sign(claims), "GET", "/things", "/things")) == "Allow"
    assert response["principalId"] == "127.0.0.1|user-1"
    event = rest(oidc.sign(claims), "GET", "/things", "/things")
    assert decide(authz, event).determining == ("permission-claim",)


def test_auth0_access_token_for_another_api_is_refused(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    authz = make(tmp_path, oidc, clock, AUTH_AUDIENCE="https://api.example.com")
    claims = base_claims(
        oidc, clock.now, aud="https://other.example.com", azp="spa-client", scope="openid"
    )
    assert outcome(authz, rest(oidc.sign(claims), "GET", "/things", "/things")) == "401"


def test_okta_access_token_with_groups(tmp_path: Path, oidc: LocalIssuer, clock: FakeClock) -> None:
    authz = make(tmp_path, oidc, clock)
    claims = base_claims(
        oidc, clock.now, cid="spa-client", scp=["openid"], groups=["admins"], uid="00u1"
    )
    assert outcome(authz, rest(oidc.sign(claims), "GET", "/things", "/things")) == "Allow"
    claims["groups"] = ["everyone"]
    assert outcome(authz, rest(oidc.sign(claims), "GET", "/things", "/things")) == "Deny"


def test_keycloak_token_kinds(tmp_path: Path, oidc: LocalIssuer, clock: FakeClock) -> None:
    authz = make(tmp_path, oidc, clock, AUTH_GROUPS_CLAIM="roles_flat")
    access = base_claims(oidc, clock.now, typ="Bearer", azp="spa-client", roles_flat=["admins"],
                         realm_access={"roles": ["admins"]})  # fmt: skip
    assert outcome(authz, rest(oidc.sign(access), "GET", "/things", "/things")) == "Allow"
    id_token = base_claims(
        oidc, clock.now, typ="ID", aud="spa-client", azp="spa-client", roles_flat=["admins"]
    )
    assert outcome(authz, rest(oidc.sign(id_token), "GET", "/things", "/things")) == "401"


def test_rfc9068_header_marks_an_access_token(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    authz = make(tmp_path, oidc, clock)
    claims = base_claims(oidc, clock.now, client_id="spa-client", groups=["admins"])
    token = oidc.sign(claims, headers={"typ": "at+jwt"})
    assert outcome(authz, rest(token, "GET", "/things", "/things")) == "Allow"


def test_client_must_be_one_we_accept(tmp_path: Path, oidc: LocalIssuer, clock: FakeClock) -> None:
    authz = make(tmp_path, oidc, clock)
    claims = base_claims(oidc, clock.now, client_id="rogue-client", scope="x", groups=["admins"])
    assert outcome(authz, rest(oidc.sign(claims), "GET", "/things", "/things")) == "401"


def test_routes_come_from_the_policies_without_a_schema(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    authz = make(tmp_path, oidc, clock)
    assert [(r.method, r.template) for r in authz.routes.routes] == [("GET", "/things")]


def test_a_token_whose_groups_are_elsewhere_is_refused(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    """Past 200 groups Entra ID leaves `groups` out and says where they are (OIDC's distributed
    claims, `_claim_names`; `hasgroups` in the implicit flow). Read as no groups, a `forbid` on
    one of them would not hold: refused, as a list over MAX_GROUPS is."""
    authz = make(tmp_path, oidc, clock)
    claims = base_claims(oidc, clock.now, azp="spa-client", scp="read", permissions=["read:things"])
    assert outcome(authz, rest(oidc.sign(claims), "GET", "/things", "/things")) == "Allow"
    overage = {"_claim_names": {"groups": "src1"},
               "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/u/getMemberObjects"}}}  # fmt: skip
    for marker in (overage, {"hasgroups": True}):
        token = oidc.sign({**claims, **marker})
        assert outcome(authz, rest(token, "GET", "/things", "/things")) == "401", marker
        with pytest.raises(InvalidToken, match="elsewhere") as refused:
            authz.issuers.first.mapping.groups({**claims, **marker})
        assert refused.value.reason == "groups_elsewhere"
    # Markers about other claims, or `hasgroups` with groups read from another claim: no refusal.
    other = {**claims, "_claim_names": {"address": "src2"}, "hasgroups": False}
    assert outcome(authz, rest(oidc.sign(other), "GET", "/things", "/things")) == "Allow"
    roles = make(tmp_path, oidc, clock, AUTH_GROUPS_CLAIM="roles")
    with_roles = {**claims, "roles": ["admins"], "hasgroups": True}
    assert outcome(roles, rest(oidc.sign(with_roles), "GET", "/things", "/things")) == "Allow"


def test_entra_id_v1_access_tokens_name_their_client_in_appid(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    """Entra ID's v1 access tokens carry the client in `appid` (v2 in `azp`)."""
    authz = make(tmp_path, oidc, clock)
    claims = base_claims(oidc, clock.now, ver="1.0", scp="read", groups=["admins"])
    # Their header carries the key's thumbprint beside its kid (a hint: the key is the key
    # set's): every v1.0 token was refused as `bad_header`.
    thumbprint = {"x5t": "i6lGk3FZzxRcUb2C3nEQ7syHJlY", "x5t#S256": "0m6ZsX9b0bY"}
    for client, expected in (("spa-client", "Allow"), ("another-app", "401")):
        token = oidc.sign({**claims, "appid": client}, headers=thumbprint)
        assert outcome(authz, rest(token, "GET", "/things", "/things")) == expected
    # A token with both names its client once: `azp` is read first, as before.
    both = oidc.sign({**claims, "azp": "another-app", "appid": "spa-client"})
    assert outcome(authz, rest(both, "GET", "/things", "/things")) == "401"


def test_without_a_schema_a_context_value_that_is_no_cedar_value_is_refused(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    """With no schema the backend library's context is plain JSON: a value Cedar has no form
    for (5000.5: Cedar has no floats) was dropped, and the forbid on the amount did not hold."""
    from authorizer import Authorizer as Backend  # noqa: PLC0415

    (tmp_path / "p.cedar").write_text(
        'permit (principal, action == Api::Action::"refund", resource);\n'
        "forbid (principal, action, resource) when { context has amount && context.amount > 1000 };"
    )
    backend = Backend.from_env({"AUTH_ISSUER": oidc.issuer, "AUTH_CLIENT_IDS": "spa-client",
                                "CEDAR_POLICY_DIR": str(tmp_path), "CEDAR_NAMESPACE": "Api",
                                "CEDAR_SCHEMA": "none"}, clock=clock)  # fmt: skip
    token = oidc.sign(base_claims(oidc, clock.now, azp="spa-client", scp="read"))
    app = 'Api::Application::"Api"'
    assert backend.authorize_token(token, "refund", app, {"amount": 10}).allowed
    assert not backend.authorize_token(token, "refund", app, {"amount": 5000}).allowed
    with pytest.raises(InvalidRequest, match="'amount' is not a Cedar value"):
        backend.authorize_token(token, "refund", app, {"amount": 5000.5})


@pytest.mark.parametrize("with_schema", [False, True])
def test_a_context_value_the_caller_gives_is_refused_when_any_part_of_it_is_unusable(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock, with_schema: bool
) -> None:
    """Nested inside a record (or a record in a set), a part that cannot take its type was
    dropped alone: `{"rx": {"qty": 31.5}}` reached Cedar as `{"rx": {}}`, the forbid on the
    quantity did not hold, and the backend then used 31.5."""
    from authorizer import Authorizer as Backend  # noqa: PLC0415

    (tmp_path / "p.cedar").write_text(
        'permit (principal, action == Api::Action::"prescribe", resource);\n'
        "forbid (principal, action, resource)\n"
        "when { context has rx && context.rx has qty && context.rx.qty > 30 };"
    )
    env = {"AUTH_ISSUER": oidc.issuer, "AUTH_CLIENT_IDS": "spa-client",
           "CEDAR_POLICY_DIR": str(tmp_path), "CEDAR_NAMESPACE": "Api", "CEDAR_SCHEMA": "none",
           "CEDAR_ENTITIES": "none"}  # fmt: skip
    if with_schema:
        (tmp_path / "s.cedarschema").write_text(
            "namespace Api { entity User; entity UserGroup; entity Application;\n"
            '  action "prescribe" appliesTo { principal: User, resource: Application,\n'
            '    context: { "rx"?: { "qty"?: Long, "notes"?: Set<{ "by"?: String }> } } }; }'
        )
        env["CEDAR_SCHEMA"] = str(tmp_path / "s.cedarschema")
    backend = Backend.from_env(env, clock=clock)
    token = oidc.sign(base_claims(oidc, clock.now, azp="spa-client", scp="read"))
    app = 'Api::Application::"Api"'
    assert backend.authorize_token(token, "prescribe", app, {"rx": {"qty": 3}}).allowed
    assert not backend.authorize_token(token, "prescribe", app, {"rx": {"qty": 31}}).allowed
    # 31.5 (Cedar has no floats); in a record in a set, a record for a String, or (without a
    # schema) a float; a forged extension value.
    refused = [{"rx": {"qty": 31.5}}, {"rx": {"qty": 31, "notes": [{"by": "a"}, {"by": 0.5}]}}]
    if with_schema:
        refused.append({"rx": {"qty": 31, "notes": [{"by": {"x": 1}}]}})
    else:
        refused.append({"rx": {"qty": 31, "extra": [1, {"__extn": {"fn": "ip", "arg": "::"}}]}})
    for context in refused:
        with pytest.raises(InvalidRequest, match=r"context attribute 'rx\.") as error:
            backend.authorize_token(token, "prescribe", app, context)
        assert error.value.reason == "bad_parameter"


def test_without_a_schema_a_claim_with_no_cedar_form_is_refused(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    """No schema: the claims are the principal's attributes as they come. `roles: ["banned",
    1.5]` had no Cedar form and was dropped whole, so the forbid on "banned" did not hold."""
    (tmp_path / "p.cedar").write_text(
        'permit (principal, action == Api::Action::"get /things", resource);\n'
        "forbid (principal, action, resource)\n"
        'when { principal has roles && principal.roles.contains("banned") };'
    )
    authz = Authorizer.from_env({"AUTH_ISSUER": oidc.issuer, "AUTH_CLIENT_IDS": "spa-client",
                                 "CEDAR_POLICY_DIR": str(tmp_path), "CEDAR_NAMESPACE": "Api",
                                 "CEDAR_SCHEMA": "none", "CEDAR_ENTITIES": "none"}, clock=clock)  # fmt: skip
    claims = base_claims(oidc, clock.now, azp="spa-client", scp="read")
    things = ("GET", "/things", "/things")
    assert outcome(authz, rest(oidc.sign({**claims, "roles": ["ok"]}), *things)) == "Allow"
    assert outcome(authz, rest(oidc.sign({**claims, "roles": ["banned"]}), *things)) == "Deny"
    for roles in (["banned", 1.5], ["banned", None], ["banned", {"__extn": {}}]):
        token = oidc.sign({**claims, "roles": roles})
        assert outcome(authz, rest(token, *things)) == "401", roles
    # Null is no value; a fractional `exp` (a registered claim) is not refused for Cedar's sake.
    assert outcome(authz, rest(oidc.sign({**claims, "nickname": None}), *things)) == "Allow"


def test_a_null_the_backend_gives_is_no_value_at_any_depth(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    """`{"qty": None}` was refused while `{"rx": {"qty": None}}` became `{"rx": {}}`: null is
    the attribute's absence, the same at the top and inside."""
    from authorizer import Authorizer as Backend  # noqa: PLC0415

    (tmp_path / "p.cedar").write_text(
        'permit (principal, action == Api::Action::"prescribe", resource)\n'
        "when { !(context has qty) && !(context has rx && context.rx has qty) };"
    )
    backend = Backend.from_env({"AUTH_ISSUER": oidc.issuer, "AUTH_CLIENT_IDS": "spa-client",
                                "CEDAR_POLICY_DIR": str(tmp_path), "CEDAR_NAMESPACE": "Api",
                                "CEDAR_SCHEMA": "none", "CEDAR_ENTITIES": "none"}, clock=clock)  # fmt: skip
    token = oidc.sign(base_claims(oidc, clock.now, azp="spa-client", scp="read"))
    app = 'Api::Application::"Api"'
    for context in ({"qty": None}, {"rx": {"qty": None}}, {}):
        assert backend.authorize_token(token, "prescribe", app, context).allowed, context
    assert not backend.authorize_token(token, "prescribe", app, {"qty": 1}).allowed


def test_the_audience_holds_for_a_token_read_as_an_id_token(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    """`token_use` any, no client list, an audience: an access token for another API with no
    `scope` (so read as an ID token) skipped the audience check and was allowed."""
    authz = make(tmp_path, oidc, clock, AUTH_CLIENT_IDS="", AUTH_TOKEN_USE="any",
                 AUTH_AUDIENCE="https://api-a.example.com")  # fmt: skip
    claims = base_claims(oidc, clock.now, groups=["admins"])
    for audience, expected in (("https://api-a.example.com", "Allow"),
                               ("https://api-b.example.com", "401"), ("another-app", "401")):  # fmt: skip
        token = oidc.sign({**claims, "aud": audience})
        assert outcome(authz, rest(token, "GET", "/things", "/things")) == expected, audience


@pytest.mark.parametrize("token_use", ["access", "id", "any"])
@pytest.mark.parametrize(
    ("header", "extra"),
    [
        ({}, {"typ": "Refresh", "scope": "openid"}),  # Keycloak's refresh and offline tokens
        ({}, {"typ": "Offline", "scope": "openid"}),
        ({"typ": "logout+jwt"}, {"typ": "Logout", "aud": "spa-client", "sid": "s"}),
        # An OIDC back-channel logout token: typed, or only told by its `events`.
        ({"typ": "logout+jwt"}, {"aud": "spa-client", "sid": "s"}),
        (
            {},
            {
                "aud": "spa-client",
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            },
        ),
        ({"typ": "secevent+jwt"}, {"aud": "spa-client", "scope": "x"}),
    ],
)
def test_tokens_that_are_neither_access_nor_id_tokens_are_refused(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock, token_use: str,
    header: dict[str, str], extra: dict[str, Any],
) -> None:  # fmt: skip
    """They fell through to "scope means access, else ID" and were accepted."""
    authz = make(tmp_path, oidc, clock, AUTH_TOKEN_USE=token_use)
    claims = base_claims(oidc, clock.now, azp="spa-client", permissions=["read:things"], **extra)
    token = oidc.sign(claims, headers=header)
    assert outcome(authz, rest(token, "GET", "/things", "/things")) == "401"
    with pytest.raises(InvalidToken) as refused:
        authz.verify(token)
    assert refused.value.reason == "wrong_token_use"


@pytest.mark.parametrize(
    "extra",
    [
        # Entra ID v2 and v1 app-only tokens (client credentials): roles, no scp.
        {"azp": "spa-client", "azpacr": "1", "roles": ["Things.Read"], "ver": "2.0"},
        {"appid": "spa-client", "appidacr": "1", "roles": ["Things.Read"], "ver": "1.0"},
        {"azp": "spa-client", "idtyp": "app", "roles": ["Things.Read"]},
        # Auth0's machine-to-machine token with no scope granted.
        {"azp": "spa-client", "gty": "client-credentials"},
    ],
)
def test_an_apps_own_access_token_without_scope_is_an_access_token(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock, extra: dict[str, Any]
) -> None:
    """Read as ID tokens (no scope), they were refused under the default AUTH_TOKEN_USE."""
    api = "https://api.example.com"
    authz = make(tmp_path, oidc, clock, AUTH_AUDIENCE=api)
    claims = base_claims(oidc, clock.now, aud=api, permissions=["read:things"], **extra)
    assert outcome(authz, rest(oidc.sign(claims), "GET", "/things", "/things")) == "Allow"
    client = "azp" if "azp" in extra else "appid"
    rogue = {**claims, client: "rogue-client"}  # its client is still checked
    assert outcome(authz, rest(oidc.sign(rogue), "GET", "/things", "/things")) == "401"


def test_an_id_token_with_several_audiences_must_be_issued_to_us(
    tmp_path: Path, oidc: LocalIssuer, clock: FakeClock
) -> None:
    """OIDC Core 3.1.3.7: with several audiences `azp` names who the token was issued to. An ID
    token from evil's sign-in with `aud: [evil, spa-client]` was accepted."""
    authz = make(tmp_path, oidc, clock, AUTH_TOKEN_USE="id")
    claims = base_claims(oidc, clock.now, aud=["evil", "spa-client"], permissions=["read:things"])
    for azp, expected in (("evil", "401"), (None, "401"), ("spa-client", "Allow")):
        token = oidc.sign({**claims, "azp": azp} if azp else claims)
        assert outcome(authz, rest(token, "GET", "/things", "/things")) == expected, azp
    # One audience: `aud` says it; a differing `azp` (Google's cross-client tokens) is not refused.
    single = {**claims, "aud": "spa-client", "azp": "android-client"}
    assert outcome(authz, rest(oidc.sign(single), "GET", "/things", "/things")) == "Allow"
