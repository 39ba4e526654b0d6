"""The route table of a policy set: the schema's route actions (or, without a schema, the
actions the policies name), checked as the pipeline needs them. Built once per policy version
(cold start, each bundle version), and by `cedar-authz bundle` to refuse what an authorizer
would."""

from __future__ import annotations

from authorizer.cedar.engine import Engine
from authorizer.cedar.policies import LoadedPolicies
from authorizer.errors import ConfigError
from authorizer.gateway.routes import Route, RouteTable, route_of
from authorizer.identity.entities import EntityMapping, check_request_type


def route_table(engine: Engine, mapping: EntityMapping) -> RouteTable:
    """The routes of the policies' actions, checked: two actions on one route, or a declared
    ``context.request`` the authorizer cannot give, refuse (``ConfigError``)."""
    routes = RouteTable(build_routes(engine, mapping))
    app = mapping.application
    on_app = [
        r for r in routes.routes if r.resource_types is None or app["type"] in r.resource_types
    ]
    if on_app and mapping.not_in_enum(app):
        # Those routes are decided on this entity: Cedar, given the schema, builds no request
        # about it. (An enumerated Application no route is decided on is the schema's own.)
        raise ConfigError(
            f"{app['type']} is an enumerated type without {app['id']!r}, the resource of "
            f"{on_app[0].method} {on_app[0].template}: add it to the enum"
        )
    if engine.model is not None:
        for route in routes.routes:
            action = engine.model.action(route.action_type, route.action_id)
            if action is not None:
                check_request_type(action)
    return routes


def build_routes(engine: Engine, mapping: EntityMapping) -> list[Route]:
    """Routes from the schema's actions, or (no schema) from the actions the policies name."""
    routes: list[Route] = []
    if engine.model is not None:
        for action in engine.model.actions:
            found = route_of(action.id, action.annotations)
            if found and action.type == mapping.action_type:
                routes.append(Route(found[0], found[1], action.type, action.id,
                                    action.resource_types, action.principal_types))  # fmt: skip
        return routes
    for action_id in sorted(policy_action_ids(engine.policies, mapping.action_type)):
        found = route_of(action_id, {})
        if found:
            routes.append(Route(found[0], found[1], mapping.action_type, action_id))
    return routes


def policy_action_ids(policies: LoadedPolicies, action_type: str) -> set[str]:
    ids: set[str] = set()
    for source in policies.sources.values():
        scope = source.json.get("action", {})
        entities = [scope.get("entity"), *scope.get("entities", [])]
        ids.update(
            e["id"] for e in entities if isinstance(e, dict) and e.get("type") == action_type
        )
    return ids
