"""The path a request is decided on is the path from the API's root, whatever API Gateway puts
in front of it (authorizer/gateway/events.py: ``api_path``).

A REST API behind a custom domain with a base path mapping sends ``path: /lib/admin/x``; an HTTP
API on a named stage sends ``rawPath`` (and payload 1.0's ``path``) ``/dev/admin/x``. The greedy
route matched on those paths was ``ANY /{proxy+}``, not ``GET /admin/{proxy+}`` where API Gateway
sent the request, and a reader was allowed past the admin route; ``context.request.path`` read
``/dev/private/x`` and a forbid on ``/private/*`` did not hold. A small application of its own
(namespace ``Library``), real RS256 tokens and a real JWKS over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authorizer.gateway.events import api_path, parse_event
from authorizer.pdp import Authorizer
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock, JwksServer
from tests.helpers import fresh_app, outcome

SCHEMA = """
namespace Library {
  entity Application;
  entity UserGroup;
  entity User in [UserGroup];
  type Request = { "path": String };
  action "get /admin/{proxy+}" appliesTo { principal: User, resource: Application,
                                           context: { "request": Request } };
  action "any /{proxy+}" appliesTo { principal: User, resource: Application,
                                     context: { "request": Request } };
  action "get /stats" appliesTo { principal: User, resource: Application,
                                  context: { "request": Request } };
}
"""
POLICIES = """
@id("admins-admin")
permit (principal in Library::UserGroup::"admins",
        action == Library::Action::"get /admin/{proxy+}", resource);

@id("readers-anything-else")
permit (principal in Library::UserGroup::"readers",
        action == Library::Action::"any /{proxy+}", resource);

@id("private-for-staff")
forbid (principal, action, resource)
when { context.request.path like "/private/*" }
unless { principal in Library::UserGroup::"staff" };
"""


@pytest.fixture
def library(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> Authorizer:
    return fresh_app(tmp_path, issuer, jwks_server.url, clock, SCHEMA, POLICIES)


def staged(event: dict[str, Any], prefix: str, stage: str) -> dict[str, Any]:
    """``event`` as API Gateway sends it with ``prefix`` before the API's own path."""
    context = event["requestContext"]
    context["stage"] = stage
    event["methodArn" if "methodArn" in event else "routeArn"] = event.get(
        "methodArn", event.get("routeArn")
    ).replace("/prod/", f"/{stage}/")
    if "rawPath" in event:
        event["rawPath"] = context["http"]["path"] = prefix + event["rawPath"]
    else:
        event["path"] = prefix + event["path"]
        context["path"] = prefix + event["path"]
    return event


def events(method: str, path: str, template: str | None, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    assert template is not None
    return {
        "REST, custom domain base path /lib": staged(
            apigw.rest_request_event(method, path, template, headers=headers), "/lib", "prod"
        ),
        "HTTP API 1.0, stage dev": staged(
            apigw.http_v1_event(method, path, template, headers=headers), "/dev", "dev"
        ),
        "HTTP API 2.0, stage dev": staged(
            apigw.http_v2_event(method, path, template, headers=headers), "/dev", "dev"
        ),
        "HTTP API 2.0, $default route, stage dev": staged(
            apigw.http_v2_event(method, path, None, headers=headers), "/dev", "dev"
        ),
    }


def test_a_greedy_route_is_matched_on_the_path_from_the_apis_root(
    library: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    reader = issuer.token("rita", groups=["readers"], now=clock())
    admin = issuer.token("ada", groups=["admins"], now=clock())
    for kind, event in events("GET", "/admin/x", "/admin/{proxy+}", reader).items():
        assert outcome(library, event) == "Deny", kind
    for kind, event in events("GET", "/admin/x", "/admin/{proxy+}", admin).items():
        assert outcome(library, event) == "Allow", kind
    for kind, event in events("GET", "/books/1", "/{proxy+}", reader).items():
        assert outcome(library, event) == "Allow", kind


def test_context_request_path_is_the_path_from_the_apis_root(
    library: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    reader = issuer.token("rita", groups=["readers"], now=clock())
    staff = issuer.token("sam", groups=["readers", "staff"], now=clock())
    for kind, event in events("GET", "/private/x", "/{proxy+}", reader).items():
        assert parse_event(event).path == "/private/x", kind
        assert outcome(library, event) == "Deny", kind
    for kind, event in events("GET", "/private/x", "/{proxy+}", staff).items():
        assert outcome(library, event) == "Allow", kind


def test_a_route_the_schema_does_not_declare_is_denied_not_decided_as_the_proxy(
    library: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """API Gateway routed the request to `/admin-stats`, which has no action: it was decided as
    `ANY /{proxy+}` and allowed to a reader."""
    reader = issuer.token("rita", groups=["readers"], now=clock())
    event = apigw.rest_request_event(
        "GET", "/admin-stats", "/admin-stats", headers={"Authorization": f"Bearer {reader}"}
    )
    assert outcome(library, event) == "Deny"


@pytest.mark.parametrize(
    ("template", "parameters", "path", "stage", "expected"),
    [
        ("/admin/{proxy+}", {"proxy": "a/b"}, "/lib/admin/a/b", None, "/admin/a/b"),
        ("/shelves/{s}/books/{b}", {"s": "1", "b": "2"}, "/v1/x", None, "/shelves/1/books/2"),
        ("/stats", {}, "/lib/stats", None, "/stats"),
        ("/", {}, "/lib/", None, "/"),
        # A parameter missing: the event's path, less a named stage.
        ("/admin/{proxy+}", {}, "/dev/admin/a", "dev", "/admin/a"),
        (None, {}, "/dev/admin/a", "dev", "/admin/a"),
        (None, {}, "/dev", "dev", "/"),
        (None, {}, "/devices/1", "dev", "/devices/1"),  # not the stage's segment
        (None, {}, "/admin/a", "$default", "/admin/a"),
        (None, {}, "/v1/v1/things", "v1", "/v1/things"),  # stripped once
    ],
)
def test_api_path(
    template: str | None, parameters: dict[str, str], path: str, stage: str | None, expected: str
) -> None:
    assert api_path(template, parameters, path, stage) == expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("abc123.execute-api.eu-west-1.amazonaws.com", "/users"),  # the stage's segment
        ("api.example.com", "/admin/users"),  # a custom domain selects no stage
        (None, "/users"),  # no domain said: the default endpoint
    ],
)
def test_a_stage_is_taken_off_the_default_endpoints_path_only(
    domain: str | None, expected: str
) -> None:
    """Behind a custom domain mapped to stage `admin`, `GET /admin/users` (`rawPath` has no
    stage there) was decided as `GET /users`."""
    assert api_path(None, {}, "/admin/users", "admin", domain) == expected


@pytest.mark.parametrize(
    "domain",
    [
        "ABC123.execute-api.eu-west-1.amazonaws.com",
        "abc123.execute-api.eu-west-1.amazonaws.com.",
        "abc123.execute-api.eu-west-1.amazonaws.com:443",
        "abc123.execute-api.eu-west-1.api.aws",
    ],
)
def test_the_default_endpoint_is_told_however_its_host_is_spelled(domain: str) -> None:
    """Spelled otherwise than lower case without a port, it was taken for a custom domain: the
    stage stayed on the path and `/dev/admin/users` was decided as the proxy."""
    assert api_path(None, {}, "/dev/admin/users", "dev", domain, "abc123") == "/admin/users"
    assert api_path(None, {}, "/dev/admin/users", "dev", "api.example.com", "abc123") == (
        "/dev/admin/users"
    )


def test_a_custom_domains_default_route_keeps_its_path(
    library: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    reader = issuer.token("rita", groups=["readers"], now=clock())
    headers = {"Authorization": f"Bearer {reader}"}
    event = staged(apigw.http_v2_event("GET", "/private/x", None, headers=headers), "", "private")
    event["requestContext"]["domainName"] = "api.example.com"
    assert parse_event(event).path == "/private/x"
    assert outcome(library, event) == "Deny"  # the forbid on /private/* holds


@pytest.mark.parametrize(
    ("path", "canonical"),
    [("/private//x", "/private/x"), ("//private/x", "/private/x"), ("/private/x/", "/private/x")],
)
def test_the_path_policies_read_is_the_one_routes_are_matched_on(
    library: Authorizer, issuer: LocalIssuer, clock: FakeClock, path: str, canonical: str
) -> None:
    """`/private//x` was routed as `/private/x` but given to Cedar as it came: a forbid on
    `/private/*` did not hold."""
    reader = issuer.token("rita", groups=["readers"], now=clock())
    headers = {"Authorization": f"Bearer {reader}"}
    proxy = path.lstrip("/")
    rest = apigw.rest_request_event("GET", path, "/{proxy+}", headers=headers)
    rest["pathParameters"] = {"proxy": proxy}
    default_route = apigw.http_v2_event("GET", path, None, headers=headers)
    for event in (rest, default_route):
        assert parse_event(event).path == canonical
        assert outcome(library, event) == "Deny"


@pytest.mark.parametrize("segment", ["..", ".", "%2e%2e", "%2E", "..%2Fx", "x%2f..", "..%5cx"])
def test_a_dot_segment_is_refused(
    library: Authorizer, issuer: LocalIssuer, clock: FakeClock, segment: str
) -> None:
    """`/books/../private/x` was decided as the proxy with that literal path, past the forbid on
    `/private/*`; a backend resolving it serves /private/x."""
    reader = issuer.token("rita", groups=["readers"], now=clock())
    headers = {"Authorization": f"Bearer {reader}"}
    path = f"/books/{segment}/private/x"
    rest = apigw.rest_request_event("GET", path, "/{proxy+}", headers=headers)
    rest["pathParameters"] = {"proxy": path.lstrip("/")}
    for event in (rest, apigw.http_v2_event("GET", path, None, headers=headers)):
        assert outcome(library, event) == "401"


def test_a_declared_route_without_its_parameters_is_no_other_route() -> None:
    """API Gateway routed to `/notes/{noteId}/secrets`; with its parameters missing, the event's
    path (a base path before it) was matched on every route, and the proxy took it."""
    from authorizer.gateway.routes import Route, RouteTable  # noqa: PLC0415

    secrets = Route("GET", "/notes/{noteId}/secrets", "A::Action", "get /notes/{noteId}/secrets")
    proxy = Route("ANY", "/{proxy+}", "A::Action", "any /{proxy+}")
    table = RouteTable([secrets, proxy])
    template = "/notes/{noteId}/secrets"
    assert table.match("GET", "/v1/notes/n1/secrets", template, {}) is None
    found = table.match("GET", "/notes/n1/secrets", template, {})
    assert (
        found is not None and found.route == secrets and found.path_parameters == {"noteId": "n1"}
    )


def test_a_lone_surrogate_in_a_parameter_or_path_is_the_callers_bad_request(
    library: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """It reached Cedar, which cannot hold it: a Deny logged as a bug with a traceback."""
    reader = issuer.token("rita", groups=["readers"], now=clock())
    headers = {"Authorization": f"Bearer {reader}"}
    in_a_parameter = apigw.rest_request_event("GET", "/books/x", "/{proxy+}", headers=headers)
    in_a_parameter["pathParameters"] = {"proxy": "books/x\ud800"}
    in_the_query = apigw.rest_request_event("GET", "/books/x", "/{proxy+}", headers=headers)
    in_the_query["queryStringParameters"] = {"page": "\udc00"}
    in_the_query["multiValueQueryStringParameters"] = {"page": ["\udc00"]}
    in_the_path = apigw.http_v2_event("GET", "/books/\ud800", None, headers=headers)
    for event in (in_a_parameter, in_the_query, in_the_path):
        assert outcome(library, event) == "401"
    accented = apigw.rest_request_event("GET", "/books/é", "/{proxy+}", headers=headers)
    accented["pathParameters"] = {"proxy": "books/é"}
    assert outcome(library, accented) == "Allow"  # text that is not ASCII is fine


def test_a_lone_surrogate_in_the_raw_query_is_the_callers_bad_request(
    library: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """HTTP API 2.0 sends `rawQueryString` beside `queryStringParameters`; the first is read,
    and went to Cedar unchecked."""
    reader = issuer.token("rita", groups=["readers"], now=clock())
    event = apigw.http_v2_event(
        "GET", "/books/x", None, headers={"Authorization": f"Bearer {reader}"}
    )
    event["rawQueryString"] = "page=\udc00"
    assert outcome(library, event) == "401"
