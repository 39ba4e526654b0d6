"""Enumerated entity types (`entity Region enum ["eu", "us"]`) have their ids and no other.

Nothing checked them: a claim `region: "nope"` passed `principal has region`, and
`GET /regions/zz` was decided past `unless { resource == Region::"us" }`, where Cedar, given the
schema, builds neither entity nor request. A small application of its own (namespace ``Geo``),
real RS256 tokens and a real JWKS over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authorizer.cedar.coerce import DROPPED, to_cedar
from authorizer.cedar.schema import EntityRef
from authorizer.pdp import Authorizer
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock, JwksServer
from tests.helpers import fresh_app, outcome

SCHEMA = """
namespace Geo {
  entity Region enum ["eu", "us"];
  entity Application;
  entity UserGroup enum ["staff", "guests"];
  entity User in [UserGroup] = { "region"?: Region };
  action "get /me" appliesTo { principal: User, resource: Application };
  action "get /regions/{regionId}" appliesTo { principal: User, resource: Region };
}
"""
POLICIES = """
@id("home") permit (principal, action == Geo::Action::"get /me", resource)
when { principal has region };
@id("regions") permit (principal, action == Geo::Action::"get /regions/{regionId}", resource)
unless { resource == Geo::Region::"us" };
"""


@pytest.fixture
def geo(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> Authorizer:
    return fresh_app(tmp_path, issuer, jwks_server.url, clock, SCHEMA, POLICIES)


def get(token: str, path: str, template: str) -> dict[str, Any]:
    return apigw.rest_request_event(
        "GET", path, template, headers={"Authorization": f"Bearer {token}"}
    )


def test_a_claim_of_an_enumerated_type_is_one_of_its_ids_or_refused(
    geo: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    for region, expected in (("eu", "Allow"), ("nope", "401")):
        token = issuer.token("u1", extra={"region": region}, now=clock())
        assert outcome(geo, get(token, "/me", "/me")) == expected, region


def test_a_resource_of_an_enumerated_type_is_one_of_its_ids_or_denied(
    geo: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = issuer.token("u1", now=clock())
    region = "/regions/{regionId}"
    assert outcome(geo, get(token, "/regions/eu", region)) == "Allow"
    assert outcome(geo, get(token, "/regions/us", region)) == "Deny"
    assert outcome(geo, get(token, "/regions/zz", region)) == "Deny"


def test_groups_of_an_enumerated_type_are_its_ids_or_the_token_is_refused(
    geo: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    staff = issuer.token("u1", groups=["staff"], extra={"region": "eu"}, now=clock())
    assert outcome(geo, get(staff, "/me", "/me")) == "Allow"
    stranger = issuer.token("u1", groups=["staff", "root"], extra={"region": "eu"}, now=clock())
    assert outcome(geo, get(stranger, "/me", "/me")) == "401"


def test_coercion_to_an_enumerated_type() -> None:
    region = EntityRef("Geo::Region", ("eu", "us"))
    assert to_cedar("eu", region) == {"__entity": {"type": "Geo::Region", "id": "eu"}}
    assert to_cedar("zz", region) is DROPPED
    assert to_cedar("zz", EntityRef("Geo::Region")) == {
        "__entity": {"type": "Geo::Region", "id": "zz"}
    }


def test_a_principal_of_an_enumerated_user_type_is_one_of_its_ids(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """`entity User enum ["alice", "bob"]`: mallory's token was decided, past
    `unless { principal == User::"bob" }`."""
    shop = fresh_app(
        tmp_path,
        issuer,
        jwks_server.url,
        clock,
        'namespace Shop { entity Application; entity UserGroup; entity User enum ["alice", "bob"];\n'
        '  action "get /items" appliesTo { principal: User, resource: Application }; }',
        'permit (principal, action, resource) unless { principal == Shop::User::"bob" };\n',
    )
    for user, expected in (("alice", "Allow"), ("bob", "Deny"), ("mallory", "401")):
        assert outcome(shop, get(issuer.token(user, now=clock()), "/items", "/items")) == expected


def test_the_backend_library_checks_enumerated_types_too(
    geo: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    from authorizer.sdk.client import Authorizer as Backend  # noqa: PLC0415

    assert isinstance(geo, Authorizer)
    backend = Backend(geo.settings, geo.engine, clock=clock)
    token = issuer.token("u1", now=clock())
    action = "get /regions/{regionId}"
    assert backend.authorize_token(token, action, {"type": "Geo::Region", "id": "eu"}).allowed
    refused = backend.authorize_token(token, action, {"type": "Geo::Region", "id": "zz"})
    assert not refused.allowed and "enumerated" in refused.errors[0]


def test_an_enumerated_application_type_without_the_mappings_id_refuses_to_start(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    from authorizer.errors import ConfigError  # noqa: PLC0415

    schema = (
        'namespace Shop { entity Application enum ["storefront"]; entity UserGroup;\n'
        "  entity User in [UserGroup];\n"
        '  action "get /items" appliesTo { principal: User, resource: Application }; }'
    )
    with pytest.raises(ConfigError, match="enumerated type without 'Shop'"):
        fresh_app(
            tmp_path,
            issuer,
            jwks_server.url,
            clock,
            schema,
            "permit (principal, action, resource);\n",
        )


def test_an_enumerated_application_type_no_route_is_decided_on_is_the_schemas_own(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """`entity Application enum ["web", "ios"]` (the company's client apps) with every route on
    a typed resource: refused at start for a while, though no request is decided on it."""
    fleet = fresh_app(
        tmp_path,
        issuer,
        jwks_server.url,
        clock,
        'namespace Fleet { entity Application enum ["web", "ios"]; entity UserGroup;\n'
        "  entity User in [UserGroup]; entity Truck;\n"
        '  action "get /trucks/{truckId}" appliesTo { principal: User, resource: Truck }; }',
        "permit (principal, action, resource);\n",
    )
    token = issuer.token("u1", now=clock())
    assert outcome(fleet, get(token, "/trucks/t1", "/trucks/{truckId}")) == "Allow"
