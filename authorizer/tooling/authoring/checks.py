"""The checks behind `cedar-authz validate` (pure: texts and models in, problems out).

- every file parses (each failure located at its statement's line);
- strict validation of every policy, template and template-linked policy against the schema,
  file by file so that Cedar's positional ids (``policy0``) become the policies' ``@id``s;
- the route table: the schema's route actions are unambiguous and buildable, and every route
  the API definition exposes has an action.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cedarpy

from authorizer.cedar.links import link_validation_errors
from authorizer.cedar.policies import LoadedPolicies, nesting_problem, statements
from authorizer.cedar.schema import SchemaModel
from authorizer.gateway.routes import route_of
from authorizer.tooling.authoring.api_routes import ApiRoute, is_greedy
from authorizer.tooling.authoring.problems import Problem, Severity, code_start, locate

_POSITIONAL = re.compile(r"`(policy\d+)`")
_QUOTED = re.compile(r"`([^`]+)`")
_PARAM = re.compile(r"^\{[^{}]+\}\Z")
_ID = re.compile(r'@id\(\s*"((?:[^"\\]|\\.)*)"\s*\)')


def parse_problems(files: Mapping[Path, str]) -> list[Problem]:
    """A problem for each file that does not parse, at the first statement that does not."""
    problems: list[Problem] = []
    for path, text in files.items():
        deep = nesting_problem(text)
        if deep is not None:
            problems.append(Problem("parse", f"policy does not parse: {deep}", path))
            continue
        try:
            cedarpy.policies_to_json_str(text)
        except ValueError as error:
            line, message = _first_failure(text, str(error))
            policy_id = _annotated_id(text, line)
            problems.append(Problem("parse", message, path, line, policy_id))
    return problems


def _first_failure(text: str, whole: str) -> tuple[int | None, str]:
    for line, statement in statements(text):
        try:
            cedarpy.policies_to_json_str(statement)
        except ValueError as error:
            return _error_line(text, line, statement), str(error)
    return None, whole


def _error_line(text: str, line: int, statement: str) -> int:
    """Where a statement that does not parse goes wrong: the first line after the longest run of
    its lines that parses as policies on its own. A missing `;` then shows at the policy after
    it, a broken condition at its own line; the statement's start when no part parses. (Cedar's
    message names the token, not where it is.)"""
    lines = statement.split("\n")
    # ``line`` is where the statement's code starts; the blank and comment lines above it are
    # part of the statement's text.
    code = next(i for i, text in enumerate(lines) if text.strip() and not
                text.lstrip().startswith("//"))  # fmt: skip
    first = line - code
    parsed = 0
    for count in range(1, len(lines)):
        try:
            document = json.loads(cedarpy.policies_to_json_str("\n".join(lines[:count]) + "\n;"))
        except ValueError:
            continue
        if document.get("staticPolicies") or document.get("templates"):
            parsed = count
    return code_start(text, first + parsed if parsed else line)


def _validation_line(text: str, line: int, message: str, policy_id: str | None) -> int:
    """The line of the policy (starting at ``line``) that holds the first name Cedar's message
    quotes (an attribute, a type, an action), or the policy's first line."""
    start = code_start(text, line)
    lines = text.splitlines()
    end = next((n for n in range(start, len(lines) + 1) if lines[n - 1].rstrip().endswith(";")),
               len(lines))  # fmt: skip
    for name in _QUOTED.findall(message):
        if name == policy_id:
            continue
        pattern = re.compile(rf"(?<![\w:]){re.escape(name)}(?![\w])")
        for number in range(start, end + 1):
            if pattern.search(lines[number - 1].split("//")[0]):
                return number
    return start


def _annotated_id(text: str, line: int | None) -> str | None:
    """The `@id` of the statement that does not parse, read off its text."""
    if line is None:
        return None
    for start, statement in statements(text):
        if code_start(text, start) == line:
            found = _ID.search(statement)
            return found.group(1) if found else None
    return None


def validation_problems(policies: LoadedPolicies, schema: cedarpy.Schema) -> list[Problem]:
    """Cedar's strict validation, each error naming the file, the line and the policy @id."""
    by_position: dict[Path, dict[str, str]] = {}
    for source in policies.sources.values():
        by_position.setdefault(source.file, {})[source.cedar_id] = source.id
    problems: list[Problem] = []
    for path, text in policies.files.items():
        names = by_position.get(path, {})
        result = cedarpy.validate_policies(text, schema)
        for error in result.errors:
            policy_id = names.get(error.policy_id, error.policy_id)
            found = policies.sources.get(policy_id)
            message = _named(error.error, names)
            line = (
                _validation_line(text, found.line, message, policy_id)
                if found and found.line
                else None
            )
            if policy_id and not message.startswith("for policy"):
                message = f"for policy `{policy_id}`, {message}"
            problems.append(Problem("validation", message, path, line, policy_id or None))
        if not result.validation_passed and not result.errors:
            problems.append(Problem("validation", "validation failed", path))
    for link, error_text in link_validation_errors(policies, schema):
        message = error_text
        if not message.startswith("for policy"):
            message = f"for policy `{link.id}`, {message}"
        problems.append(Problem("link", message, link.file, link.line or None, link.id))
    return problems


def _named(message: str, names: Mapping[str, str]) -> str:
    """Cedar's message with its positional policy ids (`policy0`) replaced by the @ids."""
    return _POSITIONAL.sub(lambda m: f"`{names.get(m.group(1), m.group(1))}`", message)


@dataclass(frozen=True)
class SchemaRoute:
    method: str
    template: str
    action: str  # the action's id
    resource_types: tuple[str, ...]
    principal_types: tuple[str, ...] = ()


def schema_routes(model: SchemaModel, namespace: str) -> list[SchemaRoute]:
    """The route table the authorizer builds from this schema (``route_building.build_routes``)."""
    action_type = f"{namespace}::Action" if namespace else "Action"
    routes = []
    for action in model.actions:
        found = route_of(action.id, action.annotations)
        if found and action.type == action_type:
            routes.append(SchemaRoute(found[0], found[1], action.id, action.resource_types,
                                      action.principal_types))  # fmt: skip
    return routes


def route_problems(
    model: SchemaModel,
    namespace: str,
    api: Sequence[ApiRoute] | None,
    schema_file: Path | None,
    texts: Mapping[Path, str] | None = None,
) -> list[Problem]:
    """The route table is unambiguous, each route can build its resource, and (given the API's
    definition) every route the API exposes has an action and every route action is exposed."""
    problems: list[Problem] = []
    action_type = f"{namespace}::Action" if namespace else "Action"
    application = f"{namespace}::Application" if namespace else "Application"
    user = f"{namespace}::User" if namespace else "User"
    texts = texts or {}
    schema_text = texts.get(schema_file) if schema_file is not None else None

    def problem(message: str, action: str, severity: Severity = "error") -> None:
        line = locate(schema_text, f'"{action}"') or locate(schema_text, action)
        problems.append(Problem("route", message, schema_file, line, None, severity))

    for action in model.actions:
        uid = f'`{action.type}::"{action.id}"`'
        verb, path = action.annotations.get("httpVerb"), action.annotations.get("httpPathTemplate")
        if bool(verb) != bool(path):
            message = f"action {uid} has only one of @httpVerb and @httpPathTemplate: not a route"
            problem(message, action.id, "warning")
        if route_of(action.id, action.annotations) and action.type != action_type:
            message = f"action {uid} looks like a route, but routes are `{action_type}` only"
            problem(message, action.id, "warning")
    routes = schema_routes(model, namespace)
    seen: dict[tuple[str, tuple[str, ...]], SchemaRoute] = {}
    for route in routes:
        key = (route.method, shape(route.template))
        name = f"`{route.method} {route.template}` (action `{route.action}`)"
        if key in seen:
            other = seen[key]
            problem(
                f"routes {name} and `{other.method} {other.template}` (action `{other.action}`)"
                " are the same route: requests cannot tell them apart",
                route.action,
            )
        seen.setdefault(key, route)
        if user not in route.principal_types:  # () when the action has no appliesTo
            takes = ", ".join(route.principal_types) or "no principal (it has no appliesTo)"
            problem(
                f"route {name} applies to {takes}, not to `{user}`, the callers' type: every "
                "request would be denied",
                route.action,
            )
        typed = [t for t in route.resource_types if t != application]
        has_id = any(_PARAM.match(s) for s in route.template.split("/"))
        buildable = application in route.resource_types or (len(typed) == 1 and has_id)
        if not buildable:
            takes = ", ".join(typed) or "no resource (it has no appliesTo)"
            problem(
                f"route {name} applies to {takes}, but the authorizer can only build "
                f"`{application}` for it (it needs one resource type, with its id as the last "
                "path parameter): every request would be denied",
                route.action,
            )
    if api is not None:
        problems.extend(_api_problems(routes, api, schema_file, texts))
    return problems


def _api_problems(
    routes: Sequence[SchemaRoute],
    api: Sequence[ApiRoute],
    schema_file: Path | None,
    texts: Mapping[Path, str],
) -> list[Problem]:
    problems: list[Problem] = []
    exposed: set[tuple[str, tuple[str, ...]]] = set()
    for route in api:
        if is_greedy(route.path):
            continue
        wanted = shape(route.path)
        methods = {"ANY", route.method}
        found = [
            r
            for r in routes
            if shape(r.template) == wanted and (route.method == "ANY" or r.method in methods)
        ]
        exposed.update((r.method, shape(r.template)) for r in found)
        if not found:
            message = (
                f"the API exposes `{route.method} {route.path}` ({route.where}) but the schema "
                "has no action for it: every request to it would be denied"
            )
            line = route.line or _api_line(route, texts)
            problems.append(Problem("route", message, route.file, line))
    if any(is_greedy(r.path) for r in api):
        return problems
    schema_text = texts.get(schema_file) if schema_file is not None else None
    for r in routes:
        if (r.method, shape(r.template)) not in exposed:
            message = f"action `{r.action}` is a route the API does not expose"
            line = locate(schema_text, f'"{r.action}"')
            problems.append(Problem("route", message, schema_file, line, None, "warning"))
    return problems


def _api_line(route: ApiRoute, texts: Mapping[Path, str]) -> int | None:
    text = texts.get(route.file) if route.file is not None else None
    name = route.where.rsplit(".", 1)[-1]
    return locate(text, f"{name}:") or locate(text, route.path)


def shape(template: str) -> tuple[str, ...]:
    """A route template with its parameter names erased: `/a/{x}` and `/a/{y}` are one route."""
    return tuple("{}" if _PARAM.match(s) else s for s in template.split("/") if s)
