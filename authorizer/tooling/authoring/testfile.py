"""Test files for `cedar-authz test` and `diff`, in two forms (JSON; YAML too with PyYAML).

1. The Cedar CLI's ``run-tests`` form: a JSON list of
   ``{"name"?, "request": {"principal", "action", "resource", "context"}, "entities",
   "decision": "allow"|"deny", "reason": [policy ids], "num_errors": N}``, UIDs in Cedar's text
   form, ``entities`` a list or the name of a JSON file beside the test file.
2. The HTTP form: a request to the API by a sample ``user`` or a token's ``claims``::

     {"tests": [{"name": "list-permission", "user": "alice", "method": "GET",
                 "path": "/employees", "decision": "allow"}]}

   with optional ``claims``, ``token_use``, ``query``, ``headers``, ``sourceIp``, ``time``
   (ISO 8601 or epoch seconds), ``reason`` and ``num_errors``; ``decision`` may also be
   ``unauthorized`` (the token is refused: 401).

A test with ``request``, ``entities`` or ``num_errors`` and no ``method`` is of the first form.
Whole-file problems raise ``TestFileError``; a malformed test becomes a case carrying its error,
reported as that test's failure (as the Cedar CLI does).
"""

from __future__ import annotations

import datetime as dt
import importlib
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

from authorizer.cedar.uids import UidError, parse_uid
from authorizer.tooling.authoring.harness import DEFAULT_SOURCE_IP, HttpCall, Identity
from authorizer.tooling.local.users import SAMPLE_USERS

Expected = Literal["allow", "deny", "unauthorized"]
MAX_TEST_FILE_BYTES = 16 * 1024 * 1024
_HTTP_FIELDS = frozenset(
    {"name", "user", "claims", "token_use", "method", "path", "query", "headers", "sourceIp",
     "time", "decision", "reason", "num_errors"}
)  # fmt: skip
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class TestFileError(Exception):
    """The file cannot be read or is not a test file at all."""


@dataclass(frozen=True)
class Expectation:
    decision: Expected
    reason: tuple[str, ...] = ()
    num_errors: int | None = None  # None: not checked


@dataclass(frozen=True)
class CedarCase:
    name: str
    request: Mapping[str, Any] = field(default_factory=dict)  # dict UIDs, context
    entities: Any = None  # a JSON list of entities
    expected: Expectation = field(default_factory=lambda: Expectation("deny"))
    error: str | None = None


@dataclass(frozen=True)
class HttpCase:
    name: str
    identity: Identity = field(default_factory=Identity)
    call: HttpCall = field(default_factory=lambda: HttpCall("GET", "/"))
    expected: Expectation = field(default_factory=lambda: Expectation("deny"))
    error: str | None = None


Case: TypeAlias = CedarCase | HttpCase


@dataclass(frozen=True)
class TestFile:
    path: Path
    cases: tuple[Case, ...]


class _Bad(Exception):
    pass


def load_test_file(path: Path) -> TestFile:
    try:
        if path.stat().st_size > MAX_TEST_FILE_BYTES:
            raise TestFileError(f"{path}: larger than {MAX_TEST_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TestFileError(f"failed to open test file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TestFileError(f"failed to open test file {path}: {error}") from None
    document = _parse(text, path)
    if isinstance(document, dict) and set(document) <= {"tests", "description"}:
        items = document.get("tests")
    else:
        items = document
    if not isinstance(items, list):
        raise TestFileError(
            f"failed to parse tests from file {path}: expected a list of tests "
            '(or {"tests": [...]})'
        )
    cases = tuple(parse_case(item, index, path.parent) for index, item in enumerate(items))
    return TestFile(path, cases)


def _parse(text: str, path: Path) -> Any:
    if path.suffix in (".yaml", ".yml"):
        try:
            yaml: Any = importlib.import_module("yaml")
        except ImportError:
            raise TestFileError(f"{path}: YAML test files need PyYAML; write JSON") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise TestFileError(f"failed to parse tests from file {path}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TestFileError(
            f"failed to parse tests from file {path}: {error.msg} at line {error.lineno} "
            f"column {error.colno}"
        ) from None
    except RecursionError:
        raise TestFileError(f"failed to parse tests from file {path}: nested too deeply") from None


def parse_case(item: object, index: int, directory: Path) -> Case:
    fallback = f"#{index + 1}"
    if not isinstance(item, dict):
        return CedarCase(fallback, error="a test is a JSON object")
    name = item.get("name")
    is_cedar = "method" not in item and any(
        k in item for k in ("request", "entities", "num_errors")
    )
    if name is not None and not isinstance(name, str):
        return CedarCase(fallback, error="`name` must be a string")
    try:
        return _cedar(item, name or "(unnamed)", directory) if is_cedar else _http(item, name)
    except _Bad as error:
        label = name or ("(unnamed)" if is_cedar else _http_label(item) or fallback)
        return (CedarCase if is_cedar else HttpCase)(label, error=str(error))


# --- the Cedar CLI's run-tests form -----------------------------------------------------------


def _cedar(item: Mapping[str, Any], name: str, directory: Path) -> CedarCase:
    for key in ("request", "entities", "decision", "reason", "num_errors"):
        if key not in item:
            raise _Bad(f"missing field `{key}`")
    request = item["request"]
    if not isinstance(request, dict):
        raise _Bad("`request` must be an object with principal, action, resource and context")
    parsed: dict[str, Any] = {}
    for part in ("principal", "action", "resource"):
        if part not in request or request[part] is None:
            raise _Bad(f"missing field `{part}`")
        try:
            parsed[part] = parse_uid(request[part])
        except UidError as error:
            raise _Bad(f"failed to parse {part} `{_text(request[part])}`: {error}") from None
    context = request.get("context", {})
    if not isinstance(context, dict):
        raise _Bad(f"failed to parse context `{_text(context)}`: context must be a JSON object")
    parsed["context"] = context
    decision = item["decision"]
    if decision not in ("allow", "deny"):
        raise _Bad(f"unknown variant `{_text(decision)}`, expected `allow` or `deny`")
    reason = item["reason"]
    if not isinstance(reason, list) or not all(isinstance(r, str) for r in reason):
        raise _Bad("`reason` must be a list of policy ids")
    num_errors = item["num_errors"]
    if not isinstance(num_errors, int) or isinstance(num_errors, bool) or num_errors < 0:
        raise _Bad("`num_errors` must be a non-negative integer")
    entities = _entities(item["entities"], directory)
    return CedarCase(name, parsed, entities, Expectation(decision, tuple(reason), num_errors))


def _entities(value: object, directory: Path) -> Any:
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise _Bad("`entities` must be a list of entities or the name of a JSON file")
    path = (directory / value).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise _Bad(f"entities file `{value}` is outside of the test file directory `{directory}`")
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _Bad(f"failed to load entities from file `{value}`: {error}") from None
    if not isinstance(loaded, list):
        raise _Bad(f"failed to load entities from file `{value}`: a JSON list is expected")
    return loaded


# --- the HTTP form ----------------------------------------------------------------------------


def _http_label(item: Mapping[str, Any]) -> str | None:
    method, path, who = item.get("method"), item.get("path"), item.get("user")
    if not isinstance(method, str) or not isinstance(path, str):
        return None
    claims = item.get("claims")
    if not isinstance(who, str) and isinstance(claims, dict):
        who = claims.get("sub")
    return f"{method.upper()} {path}" + (f" as {who}" if isinstance(who, str) else "")


def _http(item: Mapping[str, Any], name: str | None) -> HttpCase:
    unknown = sorted(set(item) - _HTTP_FIELDS)
    if unknown:
        raise _Bad(
            f"unknown field `{unknown[0]}`, expected one of {', '.join(sorted(_HTTP_FIELDS))}"
        )
    user = item.get("user")
    if user is not None and (not isinstance(user, str) or user not in SAMPLE_USERS):
        raise _Bad(f"unknown sample user `{_text(user)}`; known: {', '.join(sorted(SAMPLE_USERS))}")
    claims = item.get("claims", {})
    if not isinstance(claims, dict):
        raise _Bad("`claims` must be an object of token claims")
    if user is None and not claims:
        raise _Bad("a test needs a sample `user` or token `claims`")
    if user is None and not isinstance(claims.get("sub"), str):
        raise _Bad("`claims` need a string `sub` (or name a sample `user`)")
    token_use = item.get("token_use")
    if token_use not in (None, "access", "id"):
        raise _Bad("`token_use` must be access or id")
    method, path = item.get("method"), item.get("path")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise _Bad(f"`method` must be one of {', '.join(sorted(_METHODS))}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _Bad("`path` must be a string starting with /")
    call = HttpCall(
        method.upper(), path, _strings(item, "query"), _strings(item, "headers"),
        _source_ip(item.get("sourceIp", DEFAULT_SOURCE_IP)), _time(item.get("time")),
    )  # fmt: skip
    expected = _expectation(item)
    label = name or _http_label(item) or call.describe()
    return HttpCase(label, Identity(user, claims, token_use), call, expected)


def _expectation(item: Mapping[str, Any]) -> Expectation:
    decision = item.get("decision")
    if not isinstance(decision, str) or decision.lower() not in ("allow", "deny", "unauthorized"):
        raise _Bad("`decision` must be allow, deny or unauthorized")
    reason = item.get("reason", [])
    if not isinstance(reason, list) or not all(isinstance(r, str) for r in reason):
        raise _Bad("`reason` must be a list of policy ids")
    num_errors = item.get("num_errors")
    if num_errors is not None and (
        not isinstance(num_errors, int) or isinstance(num_errors, bool) or num_errors < 0
    ):
        raise _Bad("`num_errors` must be a non-negative integer")
    lowered: Any = decision.lower()
    return Expectation(lowered, tuple(reason), num_errors)


def _strings(item: Mapping[str, Any], key: str) -> dict[str, str]:
    value = item.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise _Bad(f"`{key}` must be an object of names to strings")
    return {str(k): str(v) for k, v in value.items()}


def _source_ip(value: object) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise _Bad(f"`sourceIp` is not an IP address: `{_text(value)}`") from None


def _time(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dt.datetime):  # YAML reads unquoted timestamps itself
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Bad(f"`time` is not an ISO 8601 date-time: `{value}`") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
    raise _Bad("`time` must be an ISO 8601 date-time or epoch seconds")


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
