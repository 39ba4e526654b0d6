"""``context.request`` takes its declared type whole (authorizer/identity/entities.py).

Its query and path parameters are the caller's: one that could not take its declared type was
dropped, so `?page=abc` (or `1e3`, `11.0`) for a `Long` passed a forbid on `page > 10` guarded by
`has`. Its other attributes are the authorizer's: a schema typing them otherwise (`sourceIp` as a
`String`) had every value dropped, and a forbid on the network never held; it now refuses to
start. A small application of its own (namespace ``Net``), real RS256 tokens and a real JWKS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authorizer.errors import ConfigError
from authorizer.gateway.events import parse_event
from authorizer.pdp import Authorizer
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock, JwksServer
from tests.helpers import fresh_app, outcome

SCHEMA = """
namespace Net {
  type Req = { "method": String, "path": String, "sourceIp"?: ipaddr,
               "query": { "page"?: Long, "sort"?: String } };
  entity Application;
  entity UserGroup;
  entity User in [UserGroup];
  action "get /reports" appliesTo { principal: User, resource: Application,
                                    context: { "request": Req } };
  action "post /pay" appliesTo { principal: User, resource: Application,
                                 context: { "amount": Long } };
  action "get /hours" appliesTo { principal: User, resource: Application,
                                  context: { "request": { "time": datetime } } };
}
"""
POLICIES = """
@id("all")
permit (principal, action, resource);

@id("page")
forbid (principal, action == Net::Action::"get /reports", resource)
when { context.request.query has page && context.request.query.page > 10 };

@id("this-century")
forbid (principal, action == Net::Action::"get /hours", resource)
when { context.request.time < datetime("2000-01-01T00:00:00Z") };

@id("small")
forbid (principal, action == Net::Action::"post /pay", resource)
when { context has amount && context.amount > 100 };
"""


def build(
    tmp_path: Path, issuer: LocalIssuer, jwks_url: str, clock: FakeClock, schema: str
) -> Authorizer:
    return fresh_app(tmp_path, issuer, jwks_url, clock, schema, POLICIES)


@pytest.fixture
def net(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> Authorizer:
    return build(tmp_path, issuer, jwks_server.url, clock, SCHEMA)


def reports(token: str, query: dict[str, str], kind: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if kind == "rest":
        return apigw.rest_request_event("GET", "/reports", "/reports", headers=headers, query=query)
    return apigw.http_v2_event("GET", "/reports", "/reports", headers=headers, query=query)


@pytest.mark.parametrize("kind", ["rest", "http2"])
def test_a_query_parameter_that_cannot_take_its_type_is_refused(
    net: Authorizer, issuer: LocalIssuer, clock: FakeClock, kind: str
) -> None:
    token = issuer.token("u1", now=clock())
    assert outcome(net, reports(token, {"page": "3"}, kind)) == "Allow"
    assert outcome(net, reports(token, {"page": "11"}, kind)) == "Deny"
    for odd in ("abc", "1e3", "11.0", "", "99999999999999999999"):
        assert outcome(net, reports(token, {"page": odd}, kind)) == "401", odd
    # An undeclared parameter is not the policies' business: dropped, as before.
    assert outcome(net, reports(token, {"other": "x"}, kind)) == "Allow"


def test_a_required_context_parameter_that_is_missing_is_refused(
    net: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = issuer.token("u1", now=clock())
    headers = {"Authorization": f"Bearer {token}"}

    def pay(query: dict[str, str]) -> dict[str, Any]:
        return apigw.rest_request_event("POST", "/pay", "/pay", headers=headers, query=query)

    assert outcome(net, pay({"amount": "50"})) == "Allow"
    assert outcome(net, pay({"amount": "500"})) == "Deny"
    assert outcome(net, pay({})) == "401"


@pytest.mark.parametrize(
    "request_type",
    [
        '{ "method": String, "sourceIp"?: String, "query": { "page"?: Long } }',
        '{ "time": String, "query": { "page"?: Long } }',
        '{ "time"?: Long, "query": { "page"?: Long } }',
        '{ "method": Long, "query": { "page"?: Long } }',
    ],
)
def test_a_schema_typing_the_authorizers_part_otherwise_refuses_to_start(
    tmp_path: Path,
    issuer: LocalIssuer,
    jwks_server: JwksServer,
    clock: FakeClock,
    request_type: str,
) -> None:
    schema = SCHEMA.replace(
        '{ "method": String, "path": String, "sourceIp"?: ipaddr,\n'
        '               "query": { "page"?: Long, "sort"?: String } }',
        request_type,
    )
    assert schema != SCHEMA
    with pytest.raises(ConfigError, match="get /reports"):
        build(tmp_path, issuer, jwks_server.url, clock, schema)


def test_a_token_event_is_not_decided_on_a_query_or_source_it_does_not_carry(
    net: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A REST TOKEN event has no query: `GET /reports?page=50` was decided as if it had none,
    past the forbid on pages over 10, and API Gateway cached that Allow for the token."""
    token = issuer.token("u1", now=clock())
    event = apigw.token_event("GET", "/reports", f"Bearer {token}")
    assert outcome(net, event) == "Deny"
    decision = net.decide(parse_event(event), net.verify(token)).decision
    assert "TOKEN event" in decision.errors[0]
    # A route whose policies read only what the event gives (the time) is decided.
    assert outcome(net, apigw.token_event("GET", "/hours", f"Bearer {token}")) == "Allow"
    # A declared context attribute that is no path parameter comes from the query: `amount=500`
    # was decided as absent, past the forbid on amounts over 100.
    pay = apigw.token_event("POST", "/pay", f"Bearer {token}")
    decision = net.decide(parse_event(pay), net.verify(token)).decision
    assert not decision.allowed and "TOKEN event" in decision.errors[0]


ZOO_SCHEMA = """
namespace Zoo {
  type Req = { "method": String, "path": String, "time": datetime, "sourceIp": ipaddr,
               "query": { "page": Long } };
  entity Application;
  entity UserGroup;
  entity User in [UserGroup];
  action "get /cages/{cageId}" appliesTo { principal: User, resource: Application,
                                           context: { "request": Req } };
  action "get /cages/{cageId}/log" appliesTo { principal: User, resource: Application,
                                               context: { "request": Req } };
  action "get /net" appliesTo { principal: User, resource: Application,
                                context: { "request": Req } };
}
"""
ZOO_POLICIES = """
@id("all") permit (principal, action, resource);
@id("no-x") forbid (principal, action == Zoo::Action::"get /cages/{cageId}", resource)
when { context.request.path like "/x*" };
@id("short-logs") forbid (principal, action == Zoo::Action::"get /cages/{cageId}/log", resource)
when { context.request.query.page > 10 };
@id("inside") forbid (principal, action == Zoo::Action::"get /net", resource)
unless { context.request.sourceIp.isInRange(ip("10.0.0.0/8")) };
"""


def test_what_the_schema_requires_of_the_request_is_checked_where_policies_read_it(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """A required `query.page` no policy of the route reads was refused when sent (the query is
    not given then), and a required `sourceIp` made every TOKEN event a 500."""
    zoo = fresh_app(tmp_path, issuer, jwks_server.url, clock, ZOO_SCHEMA, ZOO_POLICIES)
    token = issuer.token("u1", now=clock())
    headers = {"Authorization": f"Bearer {token}"}

    def rest(path: str, template: str, **kwargs: Any) -> str:
        return outcome(
            zoo, apigw.rest_request_event("GET", path, template, headers=headers, **kwargs)
        )

    assert rest("/cages/7", "/cages/{cageId}", query={"page": "3"}) == "Allow"
    assert rest("/cages/7", "/cages/{cageId}") == "Allow"
    assert outcome(zoo, apigw.token_event("GET", "/cages/7", f"Bearer {token}")) == "Allow"
    assert rest("/cages/7/log", "/cages/{cageId}/log", query={"page": "3"}) == "Allow"
    assert rest("/cages/7/log", "/cages/{cageId}/log", query={"page": "30"}) == "Deny"
    assert rest("/cages/7/log", "/cages/{cageId}/log") == "401"  # required, read, not sent
    assert rest("/net", "/net", source_ip="10.1.2.3") == "Allow"
    assert rest("/net", "/net", source_ip="192.0.2.9") == "Deny"
    # The console's Test sends no address: the policy reads one the schema requires.
    assert rest("/net", "/net", source_ip="test-invoke-source-ip") == "401"


def test_validated_requests_with_a_required_path_attribute_on_a_token_level_route(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """With CEDAR_VALIDATE_REQUESTS, `get /projects/{projectId}` (its context requires the
    path's projectId) was batched with `get /me` without path parameters: 401 on both."""
    proj = fresh_app(
        tmp_path,
        issuer,
        jwks_server.url,
        clock,
        "namespace Proj { entity UserGroup; entity User in [UserGroup]; entity Application;\n"
        '  action "get /me" appliesTo { principal: User, resource: Application };\n'
        '  action "get /projects/{projectId}" appliesTo { principal: User,\n'
        '    resource: Application, context: { "projectId": String } }; }',
        'permit (principal, action == Proj::Action::"get /me", resource);\n'
        'permit (principal, action == Proj::Action::"get /projects/{projectId}", resource);\n',
        CEDAR_VALIDATE_REQUESTS="true",
    )
    headers = {"Authorization": f"Bearer {issuer.token('u1', now=clock())}"}
    for path, template in (("/me", "/me"), ("/projects/p1", "/projects/{projectId}")):
        event = apigw.rest_request_event("GET", path, template, headers=headers)
        assert outcome(proj, event) == "Allow", path
    # The same inside a declared `request`: a required path or query parameter.
    policies = (tmp_path / "policies" / "app.cedar").read_text()
    for part in ('"pathParameters": { "projectId": String }', '"query": { "page": Long }'):
        schema = (
            "namespace Proj { entity UserGroup; entity User in [UserGroup]; entity Application;\n"
            '  action "get /me" appliesTo { principal: User, resource: Application };\n'
            '  action "get /projects/{projectId}" appliesTo { principal: User,\n'
            '    resource: Application, context: { "request": { "method": String, '
            + part
            + " } } }; }"
        )
        proj = fresh_app(
            tmp_path, issuer, jwks_server.url, clock, schema, policies,
            CEDAR_VALIDATE_REQUESTS="true",
        )  # fmt: skip
        me = apigw.rest_request_event("GET", "/me", "/me", headers=headers)
        assert outcome(proj, me) == "Allow", part
        project = apigw.rest_request_event(
            "GET", "/projects/p1", "/projects/{projectId}", headers=headers, query={"page": "2"}
        )
        assert outcome(proj, project) == "Allow", part


def test_validated_requests_where_one_route_declares_a_query_attribute(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """With CEDAR_VALIDATE_REQUESTS, `/a` declares `page?: Long`: `GET /b?page=last` was a 401
    (the batch built /a's context from /b's query), and `GET /a?page=abc` was allowed from a
    batch cached per token."""
    ab = fresh_app(
        tmp_path,
        issuer,
        jwks_server.url,
        clock,
        "namespace AB { entity Application; entity UserGroup; entity User in [UserGroup];\n"
        '  action "get /a" appliesTo { principal: User, resource: Application,\n'
        '    context: { "page"?: Long } };\n'
        '  action "get /b" appliesTo { principal: User, resource: Application }; }',
        "permit (principal, action, resource);\n",
        CEDAR_VALIDATE_REQUESTS="true",
    )
    headers = {"Authorization": f"Bearer {issuer.token('u1', now=clock())}"}

    def get(path: str, page: str) -> str:
        return outcome(ab, apigw.rest_request_event("GET", path, path, headers=headers,
                                                    query={"page": page}))  # fmt: skip

    assert get("/b", "last") == "Allow"
    assert get("/a", "abc") == "401"
    assert get("/a", "3") == "Allow"


def test_validated_requests_refuse_a_repeated_query_parameter_only_where_declared(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """With CEDAR_VALIDATE_REQUESTS, `GET /ping?x=1&x=2` (no action declares a query) was a 401
    uncached and an Allow from a cached batch."""
    ps = fresh_app(
        tmp_path,
        issuer,
        jwks_server.url,
        clock,
        "namespace PS { entity Application; entity UserGroup; entity User in [UserGroup];\n"
        '  action "get /ping", "get /status" appliesTo { principal: User, resource: Application }; }',
        "permit (principal, action, resource);\n",
        CEDAR_VALIDATE_REQUESTS="true",
    )
    headers = {"Authorization": f"Bearer {issuer.token('u1', now=clock())}"}
    twice = apigw.rest_request_event("GET", "/ping", "/ping", headers=headers)
    twice["multiValueQueryStringParameters"] = {"x": ["1", "2"]}
    twice["queryStringParameters"] = {"x": "2"}
    assert outcome(ps, twice) == "Allow"
    assert outcome(ps, twice) == "Allow"
