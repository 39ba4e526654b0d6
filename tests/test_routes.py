"""authorizer.gateway.routes: which Cedar action an HTTP request is.

Routes come from a schema's actions (AVP naming or SimpleRest annotations); a request is matched
by its own route template when the event names one, else by its concrete path."""

from __future__ import annotations

from pathlib import Path

import pytest

from authorizer.cedar.schema import SchemaModel, cedarschema_to_json, load_schema, model_from_json
from authorizer.gateway.events import parse_event
from authorizer.gateway.routes import Route, RouteMatch, RouteTable, route_of
from authorizer.tooling.local import apigw

ROOT = Path(__file__).resolve().parent.parent
ACTION = "Corp::Action"


def route(method: str, template: str, action_id: str | None = None) -> Route:
    return Route(method, template, ACTION, action_id or f"{method.lower()} {template}")


def table(*routes: Route) -> RouteTable:
    return RouteTable(routes)


def routes_of(model: SchemaModel) -> list[Route]:
    """What the authorizer builds at cold start (authorizer.route_building.build_routes), from a model."""
    out = []
    for action in model.actions:
        found = route_of(action.id, action.annotations)
        if found:
            out.append(Route(found[0], found[1], action.type, action.id, action.resource_types))
    return out


def matched_id(found: RouteMatch | None) -> str | None:
    return found.route.action_id if found else None


# --- route_of --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action_id", "annotations", "expected"),
    [
        ("get /employees/{employeeId}", {}, ("GET", "/employees/{employeeId}")),
        ("GET /employees", {}, ("GET", "/employees")),
        ("post /reports/export", {}, ("POST", "/reports/export")),
        ("any /pets/{proxy+}", {}, ("ANY", "/pets/{proxy+}")),
        ("delete /", {}, ("DELETE", "/")),
        ("view_salary", {}, None),
        ("get employees", {}, None),  # no leading slash
        ("get /a b", {}, None),  # a space in the path
        ("fetch /a", {}, None),  # not an HTTP method
        ("get  /a", {}, None),  # two spaces
        ("", {}, None),
        (
            "listEmployees",
            {"httpVerb": "get", "httpPathTemplate": "/employees/{id}"},
            ("GET", "/employees/{id}"),
        ),
        ("get /a", {"httpVerb": "post", "httpPathTemplate": "/b"}, ("POST", "/b")),
        ("view", {"httpVerb": "get"}, None),
        ("view", {"httpPathTemplate": "/a"}, None),
        ("view", {"httpVerb": "get", "httpPathTemplate": "a"}, None),
        ("get /a", {"httpVerb": "get", "httpPathTemplate": "a"}, ("GET", "/a")),  # falls back
        ("view", {"doc": "get /a"}, None),
    ],
)
def test_route_of(
    action_id: str, annotations: dict[str, str], expected: tuple[str, str] | None
) -> None:
    assert route_of(action_id, annotations) == expected


SCHEMA = """
namespace Shop {
  entity User;
  entity Order;
  entity Application;
  action "get /orders" appliesTo { principal: User, resource: Application };
  action "get /orders/{orderId}" appliesTo { principal: User, resource: Order };
  @httpVerb("put")
  @httpPathTemplate("/orders/{orderId}")
  action updateOrder appliesTo { principal: User, resource: Order };
  @httpVerb("post")
  action halfAnnotated appliesTo { principal: User, resource: Order };
  action view_total appliesTo { principal: User, resource: Order };
  action "any /files/{path+}" appliesTo { principal: User, resource: Application };
}
"""


def shop_table() -> RouteTable:
    return RouteTable(routes_of(model_from_json(cedarschema_to_json(SCHEMA), SCHEMA)))


def test_routes_from_a_schema_use_avp_names_and_annotations() -> None:
    routes = {(r.method, r.template): r.action_id for r in shop_table().routes}
    assert routes == {
        ("GET", "/orders"): "get /orders",
        ("GET", "/orders/{orderId}"): "get /orders/{orderId}",
        ("PUT", "/orders/{orderId}"): "updateOrder",
        ("ANY", "/files/{path+}"): "any /files/{path+}",
    }  # view_total and halfAnnotated are not routes


def test_a_route_knows_its_action_and_resource_types() -> None:
    found = shop_table().match("PUT", "/orders/7")
    assert found is not None
    assert found.route.action_uid == {"type": "Shop::Action", "id": "updateOrder"}
    assert found.route.resource_types == ("Shop::Order",)
    assert dict(found.path_parameters) == {"orderId": "7"}


def test_sample_app_routes() -> None:
    model = load_schema(ROOT / "schemas" / "corp.cedarschema")
    ids = {r.action_id for r in routes_of(model)}
    assert "get /employees/{employeeId}" in ids
    assert "post /accounts/{accountId}/transfers" in ids
    assert not any(i.startswith("view_") for i in ids)  # field checks, not routes
    assert all(route_of(a.id, a.annotations) is None for a in model.actions if a.id not in ids)


# --- match: by the event's template ----------------------------------------------------------


def test_template_match_renames_parameters_by_position() -> None:
    routes = table(route("GET", "/employees/{employeeId}"), route("GET", "/employees/me"))
    # The path would not match by itself: only the template can have found the route.
    found = routes.match("GET", "/prod/employees/42", "/employees/{id}", {"id": "42"})
    assert found is not None
    assert found.route.template == "/employees/{employeeId}"
    assert dict(found.path_parameters) == {"employeeId": "42"}


def test_template_match_with_several_parameters() -> None:
    routes = table(route("GET", "/orgs/{org}/teams/{team}"), route("GET", "/orgs/{org}/teams"))
    found = routes.match(
        "GET", "/unrelated", "/orgs/{o}/teams/{t}", {"t": "blue", "o": "acme", "x": "y"}
    )
    assert found is not None
    assert dict(found.path_parameters) == {"org": "acme", "team": "blue"}


def test_template_without_its_parameter_values_falls_back_to_the_path() -> None:
    routes = table(route("GET", "/pets/{petId}"))
    found = routes.match("GET", "/pets/5", "/pets/{id}", {})
    assert found is not None and dict(found.path_parameters) == {"petId": "5"}
    assert routes.match("GET", "/elsewhere", "/pets/{id}", {}) is None


def test_template_of_an_undeclared_route_is_no_route() -> None:
    """API Gateway routed the request to `/admin-stats`, which the schema has no action for
    (`validate` says every request to it is denied). It was decided as `ANY /{proxy+}`, whose
    path it fits, and allowed by that route's policies."""
    routes = table(route("GET", "/pets/{petId}"), route("ANY", "/{proxy+}"))
    assert routes.match("GET", "/pets/5", "/animals/{id}", {"id": "9"}) is None
    assert routes.match("GET", "/admin-stats", "/admin-stats", {}) is None
    # A greedy template in front of finer declared routes (one `{proxy+}` resource for a whole
    # API) is still matched on its path.
    lith = table(route("GET", "/pets/{petId}"))
    found = lith.match("GET", "/pets/5", "/{proxy+}", {"proxy": "pets/5"})
    assert found is not None and dict(found.path_parameters) == {"petId": "5"}


def test_a_declared_greedy_template_leaves_finer_declared_routes_their_requests() -> None:
    """One `/{proxy+}` resource in front of the API, declared too: `GET /cages/7/feed` is the
    finer route's (feeders only), not the proxy's (anyone), which allowed it for a while."""
    routes = table(route("GET", "/cages/{cageId}/feed"), route("ANY", "/{proxy+}"),
                   route("GET", "/admin/{rest+}"))  # fmt: skip
    found = routes.match("GET", "/cages/7/feed", "/{proxy+}", {"proxy": "cages/7/feed"})
    assert matched_id(found) == "get /cages/{cageId}/feed"
    assert matched_id(routes.match("GET", "/zoo", "/{proxy+}", {"proxy": "zoo"})) == (
        "any /{proxy+}"
    )
    found = routes.match("GET", "/admin/x", "/admin/{proxy+}", {"proxy": "x"})
    assert matched_id(found) == "get /admin/{rest+}"
    assert found is not None and dict(found.path_parameters) == {"rest": "x"}


def test_template_match_prefers_the_method_over_any() -> None:
    for order in ((0, 1), (1, 0)):
        candidates = [route("ANY", "/pets/{id}"), route("GET", "/pets/{id}")]
        routes = RouteTable(candidates[i] for i in order)
        assert matched_id(routes.match("GET", "/pets/1", "/pets/{id}", {"id": "1"})) == (
            "get /pets/{id}"
        )
        assert matched_id(routes.match("POST", "/pets/1", "/pets/{id}", {"id": "1"})) == (
            "any /pets/{id}"
        )


def test_event_with_a_route_template_end_to_end() -> None:
    routes = shop_table()
    event = apigw.http_v2_event("GET", "/orders/o-1", "/orders/{id}")
    request = parse_event(event)
    assert dict(request.path_parameters) == {"id": "o-1"}
    found = routes.match(request.method, request.path, request.route, request.path_parameters)
    assert found is not None
    assert found.route.action_id == "get /orders/{orderId}"
    assert dict(found.path_parameters) == {"orderId": "o-1"}


# --- match: by the concrete path (TOKEN events, $default, proxies) -----------------------------


@pytest.mark.parametrize(
    ("event", "action_id", "parameters"),
    [
        (apigw.token_event("GET", "/orders/o-9", "t"), "get /orders/{orderId}", {"orderId": "o-9"}),
        (apigw.token_event("GET", "/orders", "t"), "get /orders", {}),
        (apigw.token_event("PUT", "/orders/o-9", "t"), "updateOrder", {"orderId": "o-9"}),
        (apigw.http_v2_event("GET", "/orders/o-2", None), "get /orders/{orderId}", {"orderId": "o-2"}),
        (apigw.token_event("DELETE", "/files/a/b.txt", "t"), "any /files/{path+}", {"path": "a/b.txt"}),
    ],
    ids=["token with parameter", "token literal", "token annotated", "$default", "token proxy"],
)  # fmt: skip
def test_path_match_for_events_without_a_template(
    event: dict[str, object], action_id: str, parameters: dict[str, str]
) -> None:
    request = parse_event(event)
    assert request.route is None
    found = shop_table().match(request.method, request.path, request.route, request.path_parameters)
    assert found is not None
    assert found.route.action_id == action_id
    assert dict(found.path_parameters) == parameters


@pytest.mark.parametrize("reverse", [False, True])
def test_literal_segments_win_over_parameters(reverse: bool) -> None:
    candidates = [
        route("GET", "/employees/{employeeId}"),
        route("GET", "/employees/me"),
        route("GET", "/{section}/me"),
    ]
    routes = RouteTable(reversed(candidates) if reverse else candidates)
    assert matched_id(routes.match("GET", "/employees/me")) == "get /employees/me"
    assert matched_id(routes.match("GET", "/employees/7")) == "get /employees/{employeeId}"
    assert matched_id(routes.match("GET", "/teams/me")) == "get /{section}/me"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/files/a", {"proxy": "a"}),
        ("/files/a/b/c.txt", {"proxy": "a/b/c.txt"}),
        ("/files/a/", {"proxy": "a"}),
        ("/files", None),  # a greedy parameter takes at least one segment
        ("/file/a", None),
    ],
)
def test_greedy_proxy_parameter(path: str, expected: dict[str, str] | None) -> None:
    found = table(route("GET", "/files/{proxy+}")).match("GET", path)
    assert (dict(found.path_parameters) if found else None) == expected


def test_event_proxy_template_is_matched_by_path() -> None:
    routes = table(route("GET", "/files/{path+}"))
    found = routes.match("GET", "/files/x/y", "/files/{proxy+}", {"proxy": "x/y"})
    assert found is not None and dict(found.path_parameters) == {"path": "x/y"}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_any_matches_every_method(method: str) -> None:
    assert matched_id(table(route("ANY", "/pets")).match(method, "/pets")) == "any /pets"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/orders"),  # the method differs
        ("GET", "/orders/o-1/items"),  # one segment too many
        ("GET", "/"),
        ("GET", "/Orders"),  # case-sensitive
        ("PUT", "/orders"),
    ],
)
def test_no_match_is_none(method: str, path: str) -> None:
    routes = table(
        route("GET", "/orders"), route("GET", "/orders/{id}"), route("PUT", "/orders/{id}")
    )
    assert routes.match(method, path) is None
    assert routes.match(method, path, "/nowhere/{x}", {"x": "1"}) is None


def test_root_route() -> None:
    routes = table(route("GET", "/"), route("GET", "/{id}"))
    assert matched_id(routes.match("GET", "/")) == "get /"
    assert matched_id(routes.match("GET", "/7")) == "get /{id}"


def test_empty_table_matches_nothing() -> None:
    assert RouteTable([]).match("GET", "/", "/", {}) is None


def test_template_match_tells_a_parameter_from_a_greedy_one() -> None:
    routes = table(route("GET", "/files/{name}"), route("GET", "/files/{path+}"))
    found = routes.match("GET", "/files/a", "/files/{id}", {"id": "a"})
    assert matched_id(found) == "get /files/{name}"


def test_greedy_route_is_tried_last() -> None:
    routes = table(route("GET", "/{proxy+}"), route("GET", "/{id}/details"))
    assert matched_id(routes.match("GET", "/5/details")) == "get /{id}/details"


def test_path_match_prefers_the_method_over_any() -> None:
    routes = table(route("ANY", "/pets/{id}"), route("GET", "/pets/{id}"))
    assert matched_id(routes.match("GET", "/pets/1")) == "get /pets/{id}"


# --- Route ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "arn_path", "parameters"),
    [
        ("/employees/{employeeId}", "employees/*", ("employeeId",)),
        ("/employees/{employeeId}/salary", "employees/*/salary", ("employeeId",)),
        ("/orgs/{org}/teams/{team}", "orgs/*/teams/*", ("org", "team")),
        ("/files/{proxy+}", "files/*", ("proxy",)),
        ("/reports/export", "reports/export", ()),
        ("/", "", ()),
    ],
)
def test_route_arn_path_and_parameters(
    template: str, arn_path: str, parameters: tuple[str, ...]
) -> None:
    r = route("GET", template)
    assert r.arn_path == arn_path
    assert r.parameters == parameters
    arn = parse_event(apigw.token_event("GET", "/x", "t")).parsed_arn
    assert arn.for_route(r.method, r.arn_path) == f"{arn.api_prefix}/GET/{arn_path}"


def test_an_events_own_parameters_are_never_answered_from_another_events_match() -> None:
    """Matches were kept per (method, path, template): a second event with the same path but
    other parameters was given the first event's, and decided on the first one's resource."""
    docs = table(route("GET", "/docs/{docId}"))
    first = docs.match("GET", "/docs/d1", "/docs/{docId}", {"docId": "d1"})
    other = docs.match("GET", "/docs/d1", "/docs/{docId}", {"docId": "top/secret"})
    assert first is not None and other is not None
    assert (first.path_parameters, other.path_parameters) == (
        {"docId": "d1"}, {"docId": "top/secret"},
    )  # fmt: skip
