"""An action's `appliesTo` is the only principals and resources it takes, and an action declared
without one takes none: Cedar, given the schema, builds no other request (NoDecision, a Deny).

The authorizer asks Cedar without the schema (request validation is off by default), and read
`appliesTo` only for the resource, and an empty list as "any". So a permit scoped to any
principal allowed a User on `post /maintenance`, declared for Robots, and an action with no
`appliesTo` was allowed to everyone, through the gateway and the backend library alike. A small
application of its own (namespace ``Shop``), real RS256 tokens and a real JWKS over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authorizer import Authorizer as Backend
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock, JwksServer
from tests.helpers import fresh_app, outcome

SCHEMA = """
namespace Shop {
  entity Application;
  entity UserGroup;
  entity User in [UserGroup];
  entity Robot;
  entity Item = { "secret"?: String };
  action writes;
  action "get /items" appliesTo { principal: User, resource: Application };
  action "post /maintenance" appliesTo { principal: Robot, resource: Application };
  action "post /items/{itemId}/scan" appliesTo { principal: Robot, resource: Item };
  action "get /ping" in [writes];
  action "delete /items/{itemId}" in [writes] appliesTo { principal: User, resource: Item };
  action view_secret in [writes];
}
"""
POLICIES = """
@id("browse") permit (principal, action == Shop::Action::"get /items", resource);
@id("robots") permit (principal, action in [Shop::Action::"post /maintenance",
                                            Shop::Action::"post /items/{itemId}/scan"], resource);
@id("writers") permit (principal, action in Shop::Action::"writes", resource);
@id("locked") forbid (principal, action == Shop::Action::"delete /items/{itemId}", resource)
when { resource == Shop::Item::"locked" };
"""
VALIDATED = {"CEDAR_VALIDATE_REQUESTS": "true"}


def event(token: str, method: str, path: str, template: str) -> dict[str, Any]:
    return apigw.rest_request_event(
        method, path, template, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.parametrize("env", [{}, VALIDATED], ids=["default", "validated"])
def test_the_gateway_decides_no_request_the_schema_cannot_build(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock,
    env: dict[str, str],
) -> None:  # fmt: skip
    shop = fresh_app(tmp_path, issuer, jwks_server.url, clock, SCHEMA, POLICIES, **env)
    user = issuer.token("u1", now=clock())
    assert outcome(shop, event(user, "GET", "/items", "/items")) == "Allow"  # the control
    assert outcome(shop, event(user, "POST", "/maintenance", "/maintenance")) == "Deny"
    scan = "/items/{itemId}/scan"
    assert outcome(shop, event(user, "POST", "/items/i1/scan", scan)) == "Deny"
    assert outcome(shop, event(user, "GET", "/ping", "/ping")) == "Deny"  # no appliesTo
    # The robots' token-level route is not in the user's cached token-level answer either.
    assert shop.token_routes == tuple(r for r in shop.routes.routes if r.template == "/items")


def test_the_backend_library_decides_no_action_that_applies_to_nothing(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    shop = fresh_app(tmp_path, issuer, jwks_server.url, clock, SCHEMA, POLICIES, kind=Backend)
    token = issuer.token("u1", now=clock())
    locked = {"type": "Shop::Item", "id": "locked"}
    # The group `writes` has no appliesTo: "may write" though the delete itself is forbidden.
    assert not shop.authorize_token(token, "writes", locked).allowed
    assert shop.allowed_actions(token, locked, ["delete /items/{itemId}", "writes"]) == []
    app = {"type": "Shop::Application", "id": "Shop"}
    assert not shop.authorize_token(token, "post /maintenance", app).allowed
    assert shop.authorize_token(token, "get /items", app).allowed  # the control
    # A field guarded by an action that applies to nothing is removed, never left unguarded.
    redacted = shop.redact({"title": "t", "secret": "s"}, token, locked)
    assert redacted == {"title": "t"}


def test_validate_names_the_routes_no_caller_can_take(tmp_path: Path) -> None:
    from authorizer.cedar.schema import load_schema  # noqa: PLC0415
    from authorizer.tooling.authoring.checks import route_problems  # noqa: PLC0415

    (tmp_path / "shop.cedarschema").write_text(SCHEMA)
    found = route_problems(load_schema(tmp_path / "shop.cedarschema"), "Shop", None, None)
    messages = sorted(p.message for p in found)
    assert len(messages) == 4, messages  # maintenance, scan: Robots; ping: no principal, resource
    assert sum("applies to Shop::Robot, not to `Shop::User`" in m for m in messages) == 2
    assert sum("no principal (it has no appliesTo)" in m for m in messages) == 1
    assert sum("no resource (it has no appliesTo)" in m for m in messages) == 1
