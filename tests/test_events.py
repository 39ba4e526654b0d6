"""authorizer.gateway.events: the four API Gateway authorizer events -> one normalized Request.

The published samples parse as they are; anything malformed raises InvalidRequest and nothing
else (checked by hand for each kind of damage, then by hypothesis on arbitrary values and on
mutations of the samples); bearer_token accepts exactly one credential."""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.errors import InvalidRequest
from authorizer.gateway.events import (
    EventKind,
    Request,
    bearer_token,
    credential,
    parse_arn,
    parse_event,
)
from authorizer.identity import tokens
from authorizer.limits import MAX_TOKEN_LENGTH
from authorizer.tooling.local import apigw

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples" / "events"  # published by others: see its README
SAMPLE_FILES = sorted(SAMPLES.glob("apigw-*request*.json"))


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return loaded


def mutated(event: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``event`` with ``value`` at the dotted ``path`` (created as needed)."""
    out: dict[str, Any] = copy.deepcopy(dict(event))
    *parents, last = path.split(".")
    node = out
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[last] = value
    return out


def without(event: Mapping[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(event))
    del out[key]
    return out


def with_authorization(*values: str) -> Request:
    """A minimal request carrying these credential values (as the parser would collect them)."""
    request = parse_event(apigw.token_event("GET", "/pets", None))
    return Request(
        kind=request.kind,
        arn=request.arn,
        parsed_arn=request.parsed_arn,
        method=request.method,
        path=request.path,
        route=None,
        authorization=values,
    )


def cedar_accepts_ip(address: str) -> bool:
    """Whether Cedar's `ip()` takes ``address`` (a request context is built or refused whole)."""
    request = {
        "principal": {"type": "User", "id": "u"},
        "action": {"type": "Action", "id": "a"},
        "resource": {"type": "Resource", "id": "r"},
        "context": {"ip": {"__extn": {"fn": "ip", "arg": address}}},
    }
    policy = "permit (principal, action, resource) when { context.ip.isIpv4() || true };"
    result = cedarpy.is_authorized(request, policy, [])
    return result.allowed and not list(result.diagnostics.errors)


# --- the published samples, unchanged --------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    kind: EventKind
    method: str
    path: str
    route: str | None
    headers: Mapping[str, str]  # name (any casing) -> first value
    query: Mapping[str, tuple[str, ...]]
    stage: str
    authorization: tuple[str, ...] = ()
    path_parameters: Mapping[str, str] | None = None
    time_epoch_ms: int | None = None


EXPECTED: dict[str, Expected] = {
    "apigw-custom-auth-request.json": Expected(
        kind=EventKind.TOKEN,
        method="GET",
        path="/",
        route=None,
        headers={},
        query={},
        stage="*",
        authorization=("allow",),
    ),
    "apigw-custom-auth-request-type-request.json": Expected(
        kind=EventKind.REQUEST,
        method="GET",
        path="/request",
        route="/request",
        headers={
            "X-AMZ-Date": "20170718T062915Z",
            "x-amz-date": "20170718T062915Z",
            "X-Amz-Date": "20170718T062915Z",
            "HEADERAUTH1": "headerValue1",
            "Cache-Control": "no-cache",  # the sample sends it lower-cased
            "content-type": "application/x-www-form-urlencoded",
            "X-Forwarded-For": "..., ...",
        },
        query={"QueryString1": ("queryValue1",)},
        stage="test",
        path_parameters={},
    ),
    "apigw-v2-custom-authorizer-v1-request.json": Expected(
        kind=EventKind.HTTP_V1,
        method="GET",
        path="/request",
        route="/request",
        headers={
            "x-amz-date": "20170718T062915Z",
            "HeaderAuth1": "headerValue1",
            "user-agent": "...",
            "CLOUDFRONT-VIEWER-COUNTRY": "US",
        },
        query={"QueryString1": ("queryValue1",)},
        stage="test",
        path_parameters={},
    ),
    "apigw-v2-custom-authorizer-v2-request.json": Expected(
        kind=EventKind.HTTP_V2,
        method="POST",
        path="/my/path",
        route=None,  # routeKey "$default"
        headers={"header1": "value1", "HEADER2": "value2", "Header1": "value1"},
        query={"parameter1": ("value1", "value2"), "parameter2": ("value",)},
        stage="$default",
        path_parameters={"parameter1": "value1"},
        time_epoch_ms=1583348638390,
    ),
}


def test_every_sample_has_an_expectation() -> None:
    assert {p.name for p in SAMPLE_FILES} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_parses_as_it_is(name: str) -> None:
    event = sample(name)
    pristine = copy.deepcopy(event)
    want = EXPECTED[name]

    request = parse_event(event)

    assert event == pristine  # the parser does not touch its input
    assert request.kind is want.kind
    assert request.method == want.method
    assert request.path == want.path
    assert request.route == want.route
    assert request.stage == want.stage
    assert request.source_ip is None  # every sample carries junk ("...", "IP")
    assert dict(request.query) == dict(want.query)
    assert request.authorization == want.authorization
    assert request.time_epoch_ms == want.time_epoch_ms
    if want.path_parameters is not None:
        assert dict(request.path_parameters) == dict(want.path_parameters)
    for name_any_case, value in want.headers.items():
        assert request.header(name_any_case) == value, name_any_case
    assert all(name == name.lower() for name in request.headers)
    assert request.header("x-not-sent") is None
    arn_field = "routeArn" if want.kind is EventKind.HTTP_V2 else "methodArn"
    assert request.arn == event[arn_field]


def test_rest_request_sample_keeps_every_header() -> None:
    event = sample("apigw-custom-auth-request-type-request.json")
    request = parse_event(event)
    assert set(request.headers) == {name.lower() for name in event["multiValueHeaders"]}
    assert all(len(values) == 1 for values in request.headers.values())


def test_token_sample_arn_is_parsed() -> None:
    request = parse_event(sample("apigw-custom-auth-request.json"))
    arn = request.parsed_arn
    assert (arn.partition, arn.region, arn.account) == ("aws", "us-west-2", "123456789012")
    assert (arn.api_id, arn.stage, arn.method, arn.path) == ("ymy8tbxw7b", "*", "GET", "/")
    assert arn.api_prefix == "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*"
    assert arn.for_route("PUT", "/pets/*") == f"{arn.api_prefix}/PUT/pets/*"


def test_token_sample_gives_its_bare_token() -> None:
    assert bearer_token(parse_event(sample("apigw-custom-auth-request.json"))) == "allow"


@pytest.mark.parametrize(
    "name",
    ["apigw-v2-custom-authorizer-v1-request.json", "apigw-v2-custom-authorizer-v2-request.json"],
)
def test_identity_source_that_is_not_the_authorization_header_is_no_credential(name: str) -> None:
    """The HTTP API samples name identity sources ("user1,123") but send no Authorization
    header: the authorizer reads bearer tokens from that header only."""
    request = parse_event(sample(name))
    assert request.authorization == ()
    with pytest.raises(InvalidRequest) as caught:
        bearer_token(request)
    assert caught.value.reason == "missing_token"


# --- REST REQUEST / HTTP API 1.0 details -----------------------------------------------------


def test_multi_value_fields_win_and_keep_every_value() -> None:
    event = sample("apigw-custom-auth-request-type-request.json")
    event["multiValueQueryStringParameters"] = {"tag": ["a", "b"], "QueryString1": ["queryValue1"]}
    event["queryStringParameters"] = {"tag": "b", "QueryString1": "queryValue1"}  # API GW: last
    event["multiValueHeaders"]["Accept"] = ["text/html", "application/json"]
    request = parse_event(event)
    assert request.query["tag"] == ("a", "b")
    assert request.headers["accept"] == ("text/html", "application/json")
    assert request.header("ACCEPT") == "text/html"


def test_header_names_differing_in_case_are_one_header() -> None:
    event = apigw.rest_request_event("GET", "/pets", "/pets")
    event["multiValueHeaders"] = {"Authorization": ["Bearer a"], "authorization": ["Bearer b"]}
    request = parse_event(event)
    assert request.headers["authorization"] == ("Bearer a", "Bearer b")
    with pytest.raises(InvalidRequest) as caught:
        bearer_token(request)
    assert caught.value.reason == "multiple_tokens"


def test_single_value_fields_are_used_without_multi_value_ones() -> None:
    event = apigw.rest_request_event(
        "GET", "/pets", "/pets", headers={"X-Trace": "t1"}, query={"q": "x"}
    )
    event["multiValueHeaders"] = None
    event["multiValueQueryStringParameters"] = {}
    request = parse_event(event)
    assert request.header("x-trace") == "t1"
    assert dict(request.query) == {"q": ("x",)}


def test_nulls_are_tolerated_where_api_gateway_sends_them() -> None:
    event = apigw.rest_request_event("DELETE", "/pets/7", "/pets/{petId}")
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "pathParameters"):
        event[key] = None
    event["requestContext"]["identity"] = None
    request = parse_event(event)
    assert (request.method, request.route) == ("DELETE", "/pets/{petId}")
    assert (request.headers, request.query, request.path_parameters) == ({}, {}, {})
    assert request.source_ip is None


@pytest.mark.parametrize("builder", [apigw.rest_request_event, apigw.http_v1_event])
def test_rest_shaped_event_from_the_builder(builder: Any) -> None:
    event = builder(
        "get",
        "/employees/42",
        "/employees/{employeeId}",
        headers={"Authorization": "Bearer abc", "X-Tenant": "acme"},
        query={"expand": "manager"},
        source_ip="2001:DB8::7",
        now_ms=1_795_000_000_123,
    )
    request = parse_event(event)
    assert request.kind is (EventKind.HTTP_V1 if "version" in event else EventKind.REQUEST)
    assert (request.method, request.path) == ("GET", "/employees/42")
    assert request.route == "/employees/{employeeId}"
    assert dict(request.path_parameters) == {"employeeId": "42"}
    assert dict(request.query) == {"expand": ("manager",)}
    assert request.header("x-tenant") == "acme"
    assert request.source_ip == "2001:db8::7"  # normalized
    assert request.stage == "prod"
    assert request.time_epoch_ms == 1_795_000_000_123
    assert bearer_token(request) == "abc"


def test_missing_event_fields_fall_back_to_the_request_context_then_the_arn() -> None:
    event = apigw.rest_request_event("PUT", "/pets/9", "/pets/{id}")
    del event["httpMethod"], event["path"], event["resource"]
    request = parse_event(event)
    assert (request.method, request.route) == ("PUT", "/pets/{id}")  # from requestContext
    del event["requestContext"]
    request = parse_event(event)
    assert (request.method, request.path, request.route) == ("PUT", "/pets/9", None)
    assert request.stage == "prod"


def test_http_v1_default_route_has_no_template() -> None:
    event = apigw.http_v1_event("GET", "/anything", "/x")
    event["resource"] = event["requestContext"]["resourcePath"] = "$default"
    assert parse_event(event).route is None


# --- HTTP API 2.0 details --------------------------------------------------------------------


def test_http_v2_event_with_a_route() -> None:
    event = apigw.http_v2_event(
        "GET",
        "/employees/42",
        "/employees/{employeeId}",
        headers={"Authorization": "Bearer abc"},
        query={"q": "1"},
        source_ip="198.51.100.4",
        now_ms=1_795_000_000_000,
    )
    request = parse_event(event)
    assert request.kind is EventKind.HTTP_V2
    assert (request.method, request.path) == ("GET", "/employees/42")
    assert request.route == "/employees/{employeeId}"
    assert dict(request.path_parameters) == {"employeeId": "42"}
    assert dict(request.query) == {"q": ("1",)}
    assert request.source_ip == "198.51.100.4"
    assert request.stage == "$default"
    assert request.time_epoch_ms == 1_795_000_000_000
    assert request.header("Authorization") == "Bearer abc"
    assert bearer_token(request) == "abc"


def test_http_v2_default_route_has_no_template() -> None:
    request = parse_event(apigw.http_v2_event("PATCH", "/some/where", None))
    assert (request.route, request.method, request.path) == (None, "PATCH", "/some/where")


def test_http_v2_any_route_keeps_the_request_method() -> None:
    event = apigw.http_v2_event("DELETE", "/pets/1", "/pets/{id}")
    event["routeKey"] = event["requestContext"]["routeKey"] = "ANY /pets/{id}"
    request = parse_event(event)
    assert (request.method, request.route) == ("DELETE", "/pets/{id}")


def test_http_v2_route_key_from_request_context() -> None:
    event = apigw.http_v2_event("GET", "/pets/1", "/pets/{id}")
    del event["routeKey"]
    assert parse_event(event).route == "/pets/{id}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a=1&a=2&b=x", {"a": ("1", "2"), "b": ("x",)}),
        ("q=a%20b&flag", {"q": ("a b",), "flag": ("",)}),
        ("e=%E2%82%AC", {"e": ("€",)}),
    ],
)
def test_http_v2_raw_query_string(raw: str, expected: dict[str, tuple[str, ...]]) -> None:
    event = mutated(apigw.http_v2_event("GET", "/s", "/s"), "rawQueryString", raw)
    event["queryStringParameters"] = {"ignored": "yes"}
    assert dict(parse_event(event).query) == expected


def test_http_v2_without_raw_query_splits_comma_joined_parameters() -> None:
    event = sample("apigw-v2-custom-authorizer-v2-request.json")
    event["rawQueryString"] = ""
    request = parse_event(event)
    assert dict(request.query) == {"parameter1": ("value1", "value2"), "parameter2": ("value",)}


def test_http_v2_duplicate_headers_joined_by_api_gateway_are_refused_as_credentials() -> None:
    event = apigw.http_v2_event("GET", "/s", "/s", headers={"authorization": "Bearer a,Bearer b"})
    with pytest.raises(InvalidRequest) as caught:
        bearer_token(parse_event(event))
    assert caught.value.reason == "multiple_tokens"


# --- source IP and time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.10", "203.0.113.10"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("...", None),
        ("IP", None),
        ("", None),
        ("203.0.113.10, 10.0.0.1", None),
        ("999.1.1.1", None),
        (42, None),
        (None, None),
    ],
)
def test_source_ip(raw: object, expected: str | None) -> None:
    event = mutated(
        apigw.rest_request_event("GET", "/s", "/s"), "requestContext.identity.sourceIp", raw
    )
    assert parse_event(event).source_ip == expected
    v2 = mutated(apigw.http_v2_event("GET", "/s", "/s"), "requestContext.http.sourceIp", raw)
    assert parse_event(v2).source_ip == expected


@pytest.mark.parametrize(
    "raw", ["203.0.113.10", "2001:db8::1", "::1", "0.0.0.0", "::ffff:203.0.113.10"]
)
def test_source_ip_is_one_cedar_accepts(raw: str) -> None:
    event = apigw.rest_request_event("GET", "/s", "/s", source_ip=raw)
    address = parse_event(event).source_ip
    assert address is not None
    assert cedar_accepts_ip(address)


@pytest.mark.parametrize("raw", ["fe80::1%eth0", "fe80::1%1"])
def test_source_ip_never_one_cedar_refuses(raw: str) -> None:
    address = parse_event(apigw.rest_request_event("GET", "/s", "/s", source_ip=raw)).source_ip
    assert address is None or cedar_accepts_ip(address)


@pytest.mark.parametrize(
    ("raw", "expected"), [(1_700_000_000_000, 1_700_000_000_000), (0, None), (-5, None),
                          (True, None), (1.5e12, None), ("1700000000000", None)]
)  # fmt: skip
def test_request_time(raw: object, expected: int | None) -> None:
    event = mutated(
        apigw.rest_request_event("GET", "/s", "/s"), "requestContext.requestTimeEpoch", raw
    )
    assert parse_event(event).time_epoch_ms == expected


# --- malformed events ------------------------------------------------------------------------

TOKEN = apigw.token_event("GET", "/pets", "Bearer abc")
REST = apigw.rest_request_event("GET", "/pets/1", "/pets/{id}", headers={"Authorization": "x"})
V1 = apigw.http_v1_event("GET", "/pets/1", "/pets/{id}", headers={"Authorization": "x"})
V2 = apigw.http_v2_event("GET", "/pets/1", "/pets/{id}", headers={"authorization": "x"})
LONG_ARN = apigw.method_arn("GET", "/" + "a" * 1600)

MALFORMED: dict[str, object] = {
    "none": None,
    "list": [TOKEN],
    "string": json.dumps(TOKEN),
    "number": 7,
    "empty object": {},
    # the ARN
    "token without methodArn": without(TOKEN, "methodArn"),
    "request without methodArn": without(REST, "methodArn"),
    "v1 without methodArn": without(V1, "methodArn"),
    "v2 without routeArn": without(V2, "routeArn"),
    "v2 with methodArn only": mutated(without(V2, "routeArn"), "methodArn", V2["routeArn"]),
    "ARN not a string": mutated(TOKEN, "methodArn", ["arn:aws:execute-api:r:a:api/s/GET/x"]),
    "not an ARN": mutated(TOKEN, "methodArn", "execute-api:us-east-1:1:api/s/GET/"),
    "not execute-api": mutated(TOKEN, "methodArn", "arn:aws:lambda:us-east-1:1:function:f"),
    "too few ARN fields": mutated(TOKEN, "methodArn", "arn:aws:execute-api:us-east-1"),
    "ARN without method": mutated(TOKEN, "methodArn", "arn:aws:execute-api:r:1:api/stage"),
    "ARN over 1600 bytes": mutated(TOKEN, "methodArn", LONG_ARN),
    # type and version
    "unknown type": mutated(TOKEN, "type", "COOKIE"),
    "type in lower case": mutated(TOKEN, "type", "token"),
    "token with a version": mutated(TOKEN, "version", "1.0"),
    "request with version 3.0": mutated(REST, "version", "3.0"),
    "version as a number": mutated(V2, "version", 2.0),
    "no type, no version": without(TOKEN, "type"),
    # wrong types
    "authorizationToken not a string": mutated(TOKEN, "authorizationToken", 12345),
    "headers a list": mutated(REST, "headers", [["Authorization", "x"]]),
    "multiValueHeaders a string": mutated(REST, "multiValueHeaders", "Authorization: x"),
    "header value a number": mutated(without(REST, "multiValueHeaders"), "headers.X-Count", 3),
    "multi header value holds a number": mutated(REST, "multiValueHeaders.X-Count", ["1", 2]),
    "multi header value holds an object": mutated(REST, "multiValueHeaders.X", [{"a": "b"}]),
    "query value an object": mutated(
        without(REST, "multiValueQueryStringParameters"), "queryStringParameters.q", {"a": 1}
    ),
    "multi query value holds null": mutated(REST, "multiValueQueryStringParameters.q", [None]),
    "pathParameters a list": mutated(REST, "pathParameters", ["1"]),
    "path parameter a number": mutated(REST, "pathParameters.id", 1),
    "requestContext a string": mutated(REST, "requestContext", "ctx"),
    "identity a list": mutated(REST, "requestContext.identity", ["203.0.113.1"]),
    "httpMethod a number": mutated(REST, "httpMethod", 1),
    "path an object": mutated(REST, "path", {"p": "/"}),
    "resource a list": mutated(REST, "resource", ["/pets/{id}"]),
    "stage a number": mutated(REST, "requestContext.stage", 5),
    "v1 headers a string": mutated(V1, "headers", "x"),
    "v2 headers a list": mutated(V2, "headers", ["authorization"]),
    "v2 header value null in a list": mutated(V2, "headers.x", ["a", None]),
    "v2 http a string": mutated(V2, "requestContext.http", "GET /"),
    "v2 requestContext a list": mutated(V2, "requestContext", []),
    "v2 query value a number": mutated(
        mutated(V2, "rawQueryString", ""), "queryStringParameters.q", 5
    ),
    "v2 routeKey a number": mutated(V2, "routeKey", 5),
    "v2 routeKey without a path": mutated(V2, "routeKey", "GET"),
    "v2 routeKey path without a slash": mutated(V2, "routeKey", "GET pets"),
    "v2 rawPath a number": mutated(mutated(V2, "requestContext.http.path", None), "rawPath", 1),
    # methods
    "token ARN with a bad method": mutated(TOKEN, "methodArn", apigw.method_arn("FETCH", "/p")),
    "request with a bad method": mutated(REST, "httpMethod", "FETCH"),
    "v1 with a bad method": mutated(V1, "httpMethod", "GET /pets"),
    "v2 with a bad method": mutated(
        mutated(V2, "routeKey", "$default"), "requestContext.http.method", "BREW"
    ),
    "v2 routeKey with a bad method": mutated(V2, "routeKey", "BREW /pets/{id}"),
}


@pytest.mark.parametrize("event", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_event_is_invalid_request(event: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_event(event)
    assert caught.value.reason == "malformed_event"
    assert caught.value.detail  # says what is wrong


@pytest.mark.parametrize("event", [TOKEN, REST, V1, V2], ids=["token", "rest", "v1", "v2"])
def test_the_unbroken_bases_of_the_malformed_table_parse(event: dict[str, Any]) -> None:
    """So that each malformed case fails for the damage it carries, not for its base."""
    assert parse_event(event).method == "GET"


@pytest.mark.parametrize(
    ("arn", "api_id", "stage", "method", "path"),
    [
        ("arn:aws:execute-api:us-east-1:1:api/prod/GET/pets/1", "api", "prod", "GET", "/pets/1"),
        ("arn:aws:execute-api:us-east-1:1:api/prod/get/", "api", "prod", "GET", "/"),
        ("arn:aws:execute-api:us-east-1:1:api/prod/POST", "api", "prod", "POST", "/"),
        (
            "arn:aws-cn:execute-api:cn-north-1:1:api/$default/ANY/a/b",
            "api",
            "$default",
            "ANY",
            "/a/b",
        ),
    ],
)
def test_parse_arn(arn: str, api_id: str, stage: str, method: str, path: str) -> None:
    parsed = parse_arn(arn)
    assert (parsed.api_id, parsed.stage, parsed.method, parsed.path) == (
        api_id,
        stage,
        method,
        path,
    )


# --- property: nothing but InvalidRequest, whatever arrives ------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "GET", "TOKEN", "REQUEST", "1.0", "2.0", "$default", "Bearer x",
                       "arn:aws:execute-api:r:1:a/s/GET/p", "ANY /p/{x}", "::1", "/a/{b}"])
)  # fmt: skip
KEYS = st.sampled_from(
    ["type", "version", "methodArn", "routeArn", "headers", "multiValueHeaders", "httpMethod",
     "path", "resource", "routeKey", "rawPath", "rawQueryString", "requestContext", "http",
     "identity", "sourceIp", "method", "pathParameters", "queryStringParameters",
     "multiValueQueryStringParameters", "authorizationToken", "stage", "timeEpoch"]
) | st.text(max_size=12)  # fmt: skip
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)
BASES = [sample(p.name) for p in SAMPLE_FILES] + [TOKEN, REST, V1, V2]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


@st.composite
def sample_mutations(draw: st.DrawFn) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(event)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        node = event
        for key in parents:
            node = node[key]
        if draw(st.booleans()) and isinstance(node, dict):
            del node[last]
        else:
            node[last] = draw(JSON_VALUES)
    return event


def assert_well_formed(request: Request) -> None:
    assert isinstance(request.kind, EventKind)
    assert request.method in {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "ANY",
        "*",
    }
    assert isinstance(request.path, str)
    assert request.route is None or isinstance(request.route, str)
    for mapping in (request.headers, request.query):
        for name, values in mapping.items():
            assert isinstance(name, str)
            assert isinstance(values, tuple)
            assert all(isinstance(v, str) for v in values)
    assert all(name == name.lower() for name in request.headers)
    assert all(
        isinstance(k, str) and isinstance(v, str) for k, v in request.path_parameters.items()
    )
    assert all(isinstance(v, str) for v in request.authorization)


def parse_or_refuse(event: object) -> None:
    try:
        request = parse_event(event)
    except InvalidRequest:
        return
    assert_well_formed(request)
    with contextlib.suppress(InvalidRequest):
        bearer_token(request)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_arbitrary_json_raises_nothing_but_invalid_request(event: object) -> None:
    parse_or_refuse(event)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASES), st.dictionaries(KEYS, JSON_VALUES, max_size=4))
def test_samples_with_arbitrary_fields_raise_nothing_but_invalid_request(
    base: dict[str, Any], extra: dict[str, Any]
) -> None:
    parse_or_refuse({**base, **extra})


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_mutations())
def test_mutated_samples_raise_nothing_but_invalid_request(event: Any) -> None:
    parse_or_refuse(event)


# --- bearer_token ----------------------------------------------------------------------------

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"


@pytest.mark.parametrize(
    ("values", "token"),
    [
        ((f"Bearer {JWT}",), JWT),
        ((f"bearer {JWT}",), JWT),
        ((f"BEARER {JWT}",), JWT),
        ((f"Bearer   {JWT}",), JWT),
        ((f"  Bearer {JWT} \t",), JWT),
        ((JWT,), JWT),  # a bare token, as Cognito user pool authorizers accept
        (("Bearer " + "x" * MAX_TOKEN_LENGTH,), "x" * MAX_TOKEN_LENGTH),
        (("x" * MAX_TOKEN_LENGTH,), "x" * MAX_TOKEN_LENGTH),
    ],
    ids=["Bearer", "bearer", "BEARER", "spaces", "padded", "bare", "longest", "longest bare"],
)
def test_bearer_token_accepts_exactly_one_credential(values: tuple[str, ...], token: str) -> None:
    assert bearer_token(with_authorization(*values)) == token


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ((), "missing_token"),
        (("Basic dXNlcjpwYXNz",), "wrong_scheme"),
        (("Digest username=x",), "wrong_scheme"),
        (("Bearer a b",), "wrong_scheme"),
        (("Bearer\tabc",), "wrong_scheme"),
        (("Token abc",), "wrong_scheme"),
        ((f"Bearer {JWT}", f"Bearer {JWT}"), "multiple_tokens"),
        ((f"Bearer {JWT}", ""), "multiple_tokens"),
        ((f"Bearer {JWT},Bearer {JWT}",), "multiple_tokens"),
        ((f"Bearer {JWT}, Bearer {JWT}",), "multiple_tokens"),
        ((f"{JWT},{JWT}",), "multiple_tokens"),
        (("Bearer " + "x" * (MAX_TOKEN_LENGTH + 1),), "oversized_token"),
        (("x" * (MAX_TOKEN_LENGTH + 1),), "oversized_token"),
        (("Bearer " + "x," * 100_000,), "oversized_token"),
    ],
    ids=["none", "Basic", "Digest", "two words", "tab", "other scheme", "two headers",
         "second empty", "comma-joined", "comma-space-joined", "bare comma-joined",
         "oversized", "oversized bare", "huge"],
)  # fmt: skip
def test_bearer_token_refusals(values: tuple[str, ...], reason: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        bearer_token(with_authorization(*values))
    assert caught.value.reason == reason
    for value in values:  # the token itself never lands in the message
        if len(value) > 20:
            assert value not in str(caught.value)


def test_empty_token_in_a_token_event_is_a_missing_token() -> None:
    request = parse_event(apigw.token_event("GET", "/pets", ""))
    with pytest.raises(InvalidRequest) as caught:
        bearer_token(request)
    assert caught.value.reason == "missing_token"


@pytest.mark.parametrize("value", ["", "   ", "Bearer", "Bearer ", "bearer   "])
def test_empty_authorization_header_is_a_missing_token(value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        bearer_token(with_authorization(value))
    assert caught.value.reason == "missing_token"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=3))
def test_bearer_token_returns_one_word_or_refuses(values: list[str]) -> None:
    try:
        token = bearer_token(with_authorization(*values))
    except InvalidRequest as error:
        assert error.reason in {
            "missing_token",
            "multiple_tokens",
            "wrong_scheme",
            "oversized_token",
        }
        return
    assert len(values) == 1
    assert token
    assert not any(c.isspace() for c in token)
    assert "," not in token
    assert token in values[0]


# --- the credential and the token's shape, read without regular expressions ------------------
# The expressions they were read with (a scan of a ~1 KB token each, ~3% of a new user's
# request): the string forms must accept and refuse exactly what these did.
_BEARER_REFERENCE = re.compile(r"^Bearer +(\S+)$", re.IGNORECASE)
_JWS_REFERENCE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def reference_credential(value: str) -> str | None:
    """``credential``'s scheme rule as it was: the token, or None when refused."""
    match = _BEARER_REFERENCE.match(value)
    if match:
        return match.group(1)
    return value if not any(c.isspace() for c in value) else None


_PIECES = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "ey.J", "a_b-c", " ", "  ",
                           "\t", "\u00a0", "\u2003", "\n", "x", "Bearerx", ".", "+", "/", "é",
                           "K", "\u212a"])  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=7).map("".join) | st.text(max_size=12))
def test_the_scheme_is_read_as_the_regular_expression_read_it(text: str) -> None:
    value = text.strip()
    if not value or (len(value) == 6 and value.lower() == "bearer") or "," in value:
        return  # refused before the scheme is read
    expected = reference_credential(value)
    try:
        found: str | None = credential((value,))
    except InvalidRequest as error:
        assert error.reason == "wrong_scheme", (value, error.reason)
        found = None
    assert found == expected, value


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(["a", "Z", "0", "-", "_", ".", "..", "+", "/", "=", " ", "é",
                                 "\n", "ey"]), max_size=9).map("".join))  # fmt: skip
def test_the_shape_is_read_as_the_regular_expression_read_it(token: str) -> None:
    found = tokens._is_jws(token, token.split("."))
    assert found == (_JWS_REFERENCE.fullmatch(token) is not None), token
