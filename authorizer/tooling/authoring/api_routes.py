"""The routes an API exposes, read from its definition: a SAM/CloudFormation template (``Api`` and
``HttpApi`` events of functions, ``AWS::ApiGatewayV2::Route`` route keys, inline OpenAPI
``DefinitionBody``) or an OpenAPI document, in JSON or (when PyYAML is installed) YAML.
CloudFormation's short tags (``!Ref``, ``!Sub``...) are read as plain values."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authorizer.errors import ConfigError

_OPENAPI_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
_ANY_METHOD = "x-amazon-apigateway-any-method"


@dataclass(frozen=True)
class ApiRoute:
    method: str  # upper case; ANY for every method
    path: str
    where: str  # where in the definition, e.g. Resources.Fn.Properties.Events.List
    file: Path | None = None
    line: int | None = None


def is_greedy(path: str) -> bool:
    """`$default` and `{proxy+}` routes send every path to the authorizer: nothing to match."""
    return path in ("$default", "") or "+}" in path


def read_api_routes(path: Path) -> list[ApiRoute]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such API definition") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from None
    document = _load(text, path)
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: an API definition is a mapping (a template or OpenAPI)")
    return [ApiRoute(r.method, r.path, r.where, path) for r in api_routes(document)]


def _load(text: str, path: Path) -> Any:
    if path.suffix == ".json" or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
    try:
        yaml: Any = importlib.import_module("yaml")
    except ImportError:
        raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml)") from None

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def any_tag(loader: Any, _suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("!", any_tag)
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None


def api_routes(document: Mapping[str, Any]) -> list[ApiRoute]:
    if isinstance(document.get("paths"), dict):
        return _openapi(document["paths"], "paths")
    routes: list[ApiRoute] = []
    resources = document.get("Resources")
    if not isinstance(resources, dict):
        return routes
    for name, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        props = resource.get("Properties")
        if not isinstance(props, dict):
            continue
        where = f"Resources.{name}"
        if kind == "AWS::ApiGatewayV2::Route" and isinstance(props.get("RouteKey"), str):
            method, _, route = props["RouteKey"].partition(" ")
            routes.append(ApiRoute(method.upper(), route or method, where))
        body = props.get("DefinitionBody")
        if isinstance(body, dict) and isinstance(body.get("paths"), dict):
            routes += _openapi(body["paths"], f"{where}.Properties.DefinitionBody.paths")
        events = props.get("Events")
        if isinstance(events, dict):
            for event_name, event in events.items():
                routes += _event(event, f"{where}.Properties.Events.{event_name}")
    return routes


def _event(event: Any, where: str) -> list[ApiRoute]:
    if not isinstance(event, dict) or event.get("Type") not in ("Api", "HttpApi"):
        return []
    props = event.get("Properties") or {}
    if not isinstance(props, dict):
        return []
    path, method = props.get("Path"), props.get("Method")
    if event["Type"] == "HttpApi" and path is None:
        return [ApiRoute("ANY", "$default", where)]
    if not isinstance(path, str) or not isinstance(method, str):
        return []
    return [ApiRoute(method.upper(), path, where)]


def _openapi(paths: Mapping[str, Any], where: str) -> list[ApiRoute]:
    routes: list[ApiRoute] = []
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for key in item:
            if key.lower() in _OPENAPI_METHODS:
                routes.append(ApiRoute(key.upper(), path, f"{where}.{path}.{key}"))
            elif key == _ANY_METHOD:
                routes.append(ApiRoute("ANY", path, f"{where}.{path}.{key}"))
    return routes
