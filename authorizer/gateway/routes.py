"""HTTP route <-> Cedar action (pure).

An action is a route when its id reads ``"<method> <path template>"`` (AVP's API-linked naming,
e.g. ``"get /employees/{employeeId}"``) or when it carries the SimpleRest annotations
``@httpVerb`` / ``@httpPathTemplate``. Other actions (``view_salary``) are not routes: backends
ask for them directly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

from authorizer.errors import ConfigError
from authorizer.records import NamedTuple

_ROUTE_ID = re.compile(r"^(get|post|put|patch|delete|head|options|any) (/\S*)\Z", re.IGNORECASE)
_PARAM = re.compile(r"^\{([^{}+]+)(\+?)\}\Z")
MATCH_CACHE_SIZE = 4096


class Route(NamedTuple):
    method: str  # upper case; ANY matches every method
    template: str
    action_type: str
    action_id: str
    # What the schema's `appliesTo` lets the action take; () (an action declared without it):
    # none, as Cedar reads it. None: no schema, no restriction.
    resource_types: tuple[str, ...] | None = None
    principal_types: tuple[str, ...] | None = None

    # Derived values are cached per template: routes are built at cold start and matched on
    # every request.
    @property
    def segments(self) -> tuple[str, ...]:
        return _template_segments(self.template)

    @property
    def parameters(self) -> tuple[str, ...]:
        return _parameters(self.template)

    @property
    def action_uid(self) -> dict[str, str]:
        return {"type": self.action_type, "id": self.action_id}

    @property
    def sample_path(self) -> str:
        """A concrete path of this route (each parameter an `x`), to test patterns against."""
        return _with_parameters_as(self.template, "x")

    @property
    def arn_path(self) -> str:
        """The route as an execute-api ARN path: parameters become `*`."""
        return _with_parameters_as(self.template, "*")


class RouteMatch(NamedTuple):
    route: Route
    path_parameters: Mapping[str, str]  # named as in the schema's template


def route_of(action_id: str, annotations: Mapping[str, str]) -> tuple[str, str] | None:
    """(METHOD, template) for an action, or None when the action is not a route."""
    verb, template = annotations.get("httpVerb"), annotations.get("httpPathTemplate")
    if verb and template and template.startswith("/"):
        return verb.upper(), template
    match = _ROUTE_ID.match(action_id)
    return (match.group(1).upper(), match.group(2)) if match else None


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        # Literal segments first, so /employees/me wins over /employees/{id}.
        # Most specific first: per segment a literal, then {param}, then {greedy+}; an exact
        # method before ANY. Template and path matching then pick the same route.
        self._ordered = sorted(self.routes, key=_specificity)
        self._by_shape: dict[tuple[str, tuple[str, ...]], Route] = {}
        for route in self.routes:
            key = (route.method, _shape(route.template))
            if key in self._by_shape:
                other = self._by_shape[key]
                raise ConfigError(
                    f"actions {other.action_id!r} and {route.action_id!r} are the same route "
                    f"({route.method} {route.template}): a request could not tell them apart"
                )
            self._by_shape[key] = route
        self._matches: dict[
            tuple[str, str, str | None, tuple[tuple[str, str], ...]], RouteMatch | None
        ] = {}

    def match(
        self,
        method: str,
        path: str,
        template: str | None = None,
        path_parameters: Mapping[str, str] | None = None,
    ) -> RouteMatch | None:
        """The event's own route template wins when it names a declared route; a template
        without a greedy parameter that no declared route has is no route. Otherwise the
        concrete path (from the API's root: ``events.api_path``) is matched: TOKEN events,
        `$default` routes, and a `{proxy+}` route in front of finer routes the schema declares
        (the finer ones win, the proxy's own route takes the rest).
        Answers are kept per (method, path, template, parameters): the event's parameters name
        the resource, and an event whose parameters disagree with its path must not reuse
        another's."""
        key = (method, path, template, tuple(path_parameters.items()) if path_parameters else ())
        if key in self._matches:
            return self._matches[key]
        found = self._match(method, path, template, path_parameters)
        if len(self._matches) >= MATCH_CACHE_SIZE:
            self._matches.clear()  # bounded; a cold refill costs a few microseconds a path
        self._matches[key] = found
        return found

    def _match(
        self,
        method: str,
        path: str,
        template: str | None,
        path_parameters: Mapping[str, str] | None,
    ) -> RouteMatch | None:
        if template and "+}" not in template:
            shape = _shape(template)
            for verb in (method, "ANY"):
                route = self._by_shape.get((verb, shape))
                if route is None:
                    continue
                named = _rename(template, route, path_parameters or {})
                if named is not None:
                    return RouteMatch(route, named)
                # Its parameters are missing: read from the path, for this route only (another
                # route the path fits is not where API Gateway sent the request).
                found = _match_path(route, path)
                return RouteMatch(route, found) if found is not None else None
            # API Gateway routed the request to a route the schema has no action for
            # (`validate` says so): deciding it as another route whose path it fits would
            # apply policies written for that one.
            return None
        # A greedy template (`/{proxy+}` in front of the whole API, declared or not) is matched
        # on the path, so the finer routes the schema declares behind it decide.
        for route in self._ordered:
            if route.method in (method, "ANY"):
                found = _match_path(route, path)
                if found is not None:
                    return RouteMatch(route, found)
        return None


@functools.cache
def _template_segments(template: str) -> tuple[str, ...]:
    return _segments(template)


@functools.cache
def _parameters(template: str) -> tuple[str, ...]:
    return tuple(m.group(1) for s in _template_segments(template) if (m := _PARAM.match(s)))


@functools.cache
def _with_parameters_as(template: str, stand_in: str) -> str:
    return "/".join(stand_in if _PARAM.match(s) else s for s in _template_segments(template))


def filled_template(template: str, parameters: Mapping[str, str]) -> str | None:
    """``template`` with each ``{name}`` / ``{name+}`` replaced by its value in ``parameters``
    (the concrete path API Gateway routed there, from the API's root); None when a value is
    missing or empty."""
    out: list[str] = []
    for text, is_parameter in _template_parts(template):
        if not is_parameter:
            out.append(text)
            continue
        value = parameters.get(text)
        if not value:
            return None
        out.append(value)
    return "/" + "/".join(out)


@functools.lru_cache(maxsize=1024)  # an API has few templates; events name them
def _template_parts(template: str) -> tuple[tuple[str, bool], ...]:
    """A template's segments as (literal, False) or (parameter name, True), parsed once: the
    route's path is filled from them on every request."""
    return tuple(
        (m.group(1), True) if (m := _PARAM.match(s)) else (s, False)
        for s in _template_segments(template)
    )


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


def _shape(template: str) -> tuple[str, ...]:
    return tuple(_kind(s) for s in _segments(template))


def template_shape(template: str) -> tuple[str, ...]:
    """A template's segments: each literal as it is, a parameter as `{}`, a greedy one `{+}`."""
    return _shape(template)


def _kind(segment: str) -> str:
    match = _PARAM.match(segment)
    if match is None:
        return segment
    return "{+}" if match.group(2) else "{}"


def _specificity(route: Route) -> tuple[list[int], bool]:
    ranks = [{"{}": 1, "{+}": 2}.get(_kind(s), 0) for s in route.segments]
    return ranks, route.method == "ANY"


def _rename(template: str, route: Route, values: Mapping[str, str]) -> dict[str, str] | None:
    """The event's parameter values under the schema's parameter names, by position."""
    event_names = [m.group(1) for s in _segments(template) if (m := _PARAM.match(s))]
    if not all(name in values for name in event_names):
        return None
    return {
        ours: values[theirs] for ours, theirs in zip(route.parameters, event_names, strict=True)
    }


def _match_path(route: Route, path: str) -> dict[str, str] | None:
    parts = _segments(path)
    found: dict[str, str] = {}
    for index, segment in enumerate(route.segments):
        param = _PARAM.match(segment)
        if param and param.group(2):  # {name+}: the rest of the path, at least one segment
            if index >= len(parts):
                return None
            found[param.group(1)] = "/".join(parts[index:])
            return found
        if index >= len(parts):
            return None
        if param:
            found[param.group(1)] = parts[index]
        elif segment != parts[index]:
            return None
    return found if len(parts) == len(route.segments) else None
