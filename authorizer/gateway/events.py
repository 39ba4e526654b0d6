"""API Gateway authorizer events -> one normalized ``Request`` (pure; no I/O).

Four inputs: REST TOKEN, REST REQUEST, HTTP API payload 1.0
and 2.0. Anything malformed raises ``InvalidRequest`` (401): API Gateway builds these events, so a
malformed one means a misconfiguration or a forged invocation, and neither may reach an Allow.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, unquote

from authorizer.errors import InvalidParameter, InvalidRequest
from authorizer.gateway.routes import filled_template
from authorizer.limits import MAX_TOKEN_LENGTH
from authorizer.records import NamedTuple

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # what ANY stands for
_METHODS = frozenset({*HTTP_METHODS, "ANY", "*"})


class EventKind(enum.Enum):
    TOKEN = "REST TOKEN"
    REQUEST = "REST REQUEST"
    HTTP_V1 = "HTTP API 1.0"
    HTTP_V2 = "HTTP API 2.0"


NOTHING: Mapping[str, Any] = MappingProxyType({})  # a shared, read-only empty mapping


class Arn(NamedTuple):
    """``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{VERB}/{path...}``."""

    partition: str
    region: str
    account: str
    api_id: str
    stage: str
    method: str
    path: str

    @property
    def api_prefix(self) -> str:
        """The ARN up to the stage: policies for other routes of the same API start with it."""
        service = f"arn:{self.partition}:execute-api:{self.region}:{self.account}"
        return f"{service}:{self.api_id}/{self.stage}"

    def for_route(self, method: str, path: str) -> str:
        return f"{self.api_prefix}/{method}/{path.lstrip('/')}"


class Request(NamedTuple):
    kind: EventKind
    arn: str
    parsed_arn: Arn
    method: str
    path: str
    route: str | None  # the route template when the event names one
    path_parameters: Mapping[str, str] = NOTHING
    query: Mapping[str, tuple[str, ...]] = NOTHING
    headers: Mapping[str, tuple[str, ...]] = NOTHING  # lower-cased names
    source_ip: str | None = None
    stage: str = ""
    time_epoch_ms: int | None = None
    authorization: tuple[str, ...] = ()  # every credential value the event carries

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def parse_arn(value: object) -> Arn:
    if not isinstance(value, str) or not value.startswith("arn:") or len(value) > 1600:
        raise InvalidRequest("malformed_event", "methodArn/routeArn is missing or not an ARN")
    return _parse_arn(value)


@functools.lru_cache(maxsize=4096)  # an API has few method ARNs; an Arn is immutable
def _parse_arn(value: str) -> Arn:
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[2] != "execute-api":
        raise InvalidRequest("malformed_event", "not an execute-api ARN")
    segments = parts[5].split("/", 3)
    if len(segments) < 3:
        raise InvalidRequest("malformed_event", "ARN lacks api id, stage and method")
    api_id, stage, method = segments[0], segments[1], segments[2]
    path = "/" + (segments[3] if len(segments) > 3 else "")
    return Arn(parts[1], parts[3], parts[4], api_id, stage, method.upper(), path)


def parse_event(event: object) -> Request:
    if not isinstance(event, Mapping):
        raise InvalidRequest("malformed_event", "the event is not a JSON object")
    version = event.get("version")
    kind = event.get("type")
    if version == "2.0":
        return _parse_http_v2(event)
    if kind == "TOKEN" and version is None:
        return _parse_token(event)
    if kind == "REQUEST" and version in (None, "1.0"):
        return _parse_request(event, EventKind.HTTP_V1 if version == "1.0" else EventKind.REQUEST)
    raise InvalidRequest(
        "malformed_event", f"unknown authorizer event (type={kind!r}, version={version!r})"
    )


def bearer_token(request: Request) -> str:
    """Exactly one credential, ``Bearer <jwt>`` or a bare JWT; anything else is refused here,
    before any key is fetched."""
    return credential(request.authorization)


def credential(authorization: tuple[str, ...]) -> str:
    """The token of the Authorization header values: the one rule for the gateway, the
    middleware and the sample backend, so that none refuses what another accepts."""
    if not authorization:
        raise InvalidRequest("missing_token", "no Authorization header")
    if len(authorization) > 1:
        raise InvalidRequest("multiple_tokens", "more than one Authorization header")
    value = authorization[0].strip()
    if not value or (len(value) == 6 and value.lower() == "bearer"):
        raise InvalidRequest("missing_token", "the Authorization header carries no token")
    if len(value) > MAX_TOKEN_LENGTH + len("Bearer "):
        raise InvalidRequest(
            "oversized_token", f"credential longer than {MAX_TOKEN_LENGTH} characters"
        )
    if "," in value:  # HTTP API joins duplicate headers with commas; a JWT never has one
        raise InvalidRequest(
            "multiple_tokens", "more than one credential in the Authorization header"
        )
    # `Bearer` (any case), one or more spaces, then the token (no whitespace: `str.split`'s
    # and the regular expressions' whitespace are both `str.isspace`); else a bare token.
    scheme, _, rest = value.partition(" ")
    token = rest.lstrip(" ")
    if len(scheme) == 6 and scheme.isascii() and scheme.lower() == "bearer" and token:
        if token.split() != [token]:
            raise InvalidRequest("wrong_scheme", "the Authorization scheme is not Bearer")
    elif value.split() == [value]:
        token = value  # a bare token, as Cognito user pool authorizers accept
    else:
        raise InvalidRequest("wrong_scheme", "the Authorization scheme is not Bearer")
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidRequest("oversized_token", "empty or oversized token")
    return token


# --- the four shapes ----------------------------------------------------------------------------


def _parse_token(event: Mapping[str, Any]) -> Request:
    arn = parse_arn(event.get("methodArn"))
    token = event.get("authorizationToken")
    if token is not None and not isinstance(token, str):
        raise InvalidRequest("malformed_event", "authorizationToken is not a string")
    return Request(
        kind=EventKind.TOKEN,
        arn=event["methodArn"],
        parsed_arn=arn,
        method=_method(arn.method),
        path=canonical_path(arn.path),
        route=None,
        stage=arn.stage,
        authorization=(token,) if token else (),
    )


def _parse_request(event: Mapping[str, Any], kind: EventKind) -> Request:
    arn = parse_arn(event.get("methodArn"))
    context = _mapping(event, "requestContext")
    headers = _multi(_mapping(event, "multiValueHeaders"), _mapping(event, "headers"), lower=True)
    identity = _mapping(context, "identity")
    method = _string(event, "httpMethod") or _string(context, "httpMethod") or arn.method
    stage = _string(context, "stage") or arn.stage
    template = _template(_string(event, "resource") or _string(context, "resourcePath"))
    parameters = _strings(_mapping(event, "pathParameters"))
    # A REST API's `path` has no stage (its `requestContext.path` has); an HTTP API's has.
    path, staged = _string(event, "path"), kind is EventKind.HTTP_V1
    if path is None:
        path, staged = _string(context, "path"), True
    return Request(
        kind=kind,
        arn=event["methodArn"],
        parsed_arn=arn,
        method=_method(method),
        path=api_path(
            template,
            parameters,
            path or arn.path,
            stage if staged else None,
            _string(context, "domainName"),
            _string(context, "apiId") or arn.api_id,
        ),
        route=template,
        path_parameters=parameters,
        query=_multi(
            _mapping(event, "multiValueQueryStringParameters"),
            _mapping(event, "queryStringParameters"),
            lower=False,
        ),
        headers=headers,
        source_ip=_ip(identity.get("sourceIp")),
        stage=stage,
        time_epoch_ms=_epoch_ms(context.get("requestTimeEpoch")),
        authorization=headers.get("authorization", ()),
    )


def _parse_http_v2(event: Mapping[str, Any]) -> Request:
    arn = parse_arn(event.get("routeArn"))
    context = _mapping(event, "requestContext")
    http = _mapping(context, "http")
    headers = _multi({}, _mapping(event, "headers"), lower=True)
    method = _string(http, "method") or arn.method
    route: str | None = None
    route_key = _string(event, "routeKey") or _string(context, "routeKey")
    if route_key and route_key != "$default":
        verb, _, template = route_key.partition(" ")
        if not template.startswith("/"):
            raise InvalidRequest("malformed_event", f"routeKey {route_key!r} is not 'METHOD /path'")
        route = template
        if verb.upper() not in ("ANY", "$DEFAULT"):
            method = verb
    raw_query = event.get("rawQueryString")
    if isinstance(raw_query, str) and raw_query:
        if not raw_query.isascii():
            _check_text(raw_query)
        query = {k: tuple(v) for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
    else:
        query = {
            k: tuple(v.split(","))
            for k, v in _strings(_mapping(event, "queryStringParameters")).items()
        }
    stage = _string(context, "stage") or arn.stage
    parameters = _strings(_mapping(event, "pathParameters"))
    path = _string(http, "path") or _string(event, "rawPath")
    return Request(
        kind=EventKind.HTTP_V2,
        arn=event["routeArn"],
        parsed_arn=arn,
        method=_method(method),
        path=api_path(
            route,
            parameters,
            path,
            stage,
            _string(context, "domainName"),
            _string(context, "apiId") or arn.api_id,
        )
        if path
        else canonical_path(arn.path),
        route=route,
        path_parameters=parameters,
        query=query,
        headers=headers,
        source_ip=_ip(http.get("sourceIp")),
        stage=stage,
        time_epoch_ms=_epoch_ms(context.get("timeEpoch")),
        authorization=headers.get("authorization", ()),
    )


# --- field readers: type-checked, tolerant of null (API Gateway sends null for "none") ----------


def _mapping(container: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    if type(value) is dict:  # what json.loads gives: no ABC check on every request
        return value
    if not isinstance(value, Mapping):
        raise InvalidRequest("malformed_event", f"{key} is not an object")
    return value


def _string(container: Mapping[str, Any], key: str) -> str | None:
    value = container.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest("malformed_event", f"{key} is not a string")
    return value


def _strings(mapping: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in mapping.items():
        if value is None:
            continue
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequest("malformed_event", "a parameter or header value is not a string")
        if not (key.isascii() and value.isascii()):
            _check_text(key + value)
        out[key] = value
    return out


def _check_text(value: str) -> None:
    """Unicode text, not a lone surrogate (an escaped ``\\ud800`` in the event's JSON): Cedar
    cannot hold one, and it reached the engine as a bug to log, a path parameter's or a query
    value's Deny with a traceback, instead of the caller's bad request."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest("malformed_event", "a parameter is not Unicode text") from None


def _multi(
    multi: Mapping[str, Any], single: Mapping[str, Any], *, lower: bool
) -> dict[str, tuple[str, ...]]:
    """Merge the multi-valued and single-valued forms. Names that differ only in case are the
    same header, so their values add up: two ``Authorization`` headers stay two."""
    out: dict[str, list[str]] = {}
    source: Iterable[tuple[str, Any]] = multi.items() if multi else single.items()
    for name, value in source:  # on every request: plain loops, no generators
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if not isinstance(name, str):
            raise InvalidRequest("malformed_event", "a header or query name is not a string")
        for item in values:
            if not isinstance(item, str):
                raise InvalidRequest("malformed_event", "a header or query value is not a string")
            if not item.isascii():
                _check_text(item)
        if not name.isascii():
            _check_text(name)
        out.setdefault(name.lower() if lower else name, []).extend(values)
    return {name: tuple(values) for name, values in out.items()}


def _template(value: str | None) -> str | None:
    """A route template starts with `/`; `$default` (HTTP API 1.0) names none."""
    return value if value and value.startswith("/") else None


def api_path(
    template: str | None,
    parameters: Mapping[str, str],
    path: str,
    stage: str | None,
    domain: str | None = None,
    api_id: str | None = None,
) -> str:
    """The request's path from the API's root, in the one form routes are matched on: what
    route templates and policies (``context.request.path``) are written against.

    API Gateway's path fields carry what precedes the API: a REST API's ``path`` the base path
    of a custom domain (``/v1/admin/x``), an HTTP API's the stage (``/dev/admin/x``) on its
    default endpoint, so a greedy route matched on them was another route. The template the
    request was routed to, filled with its parameters, carries neither. Without one (an HTTP
    API's ``$default`` route) a named ``stage`` is taken off on the default endpoint only: a
    custom ``domain`` selects no stage (its path has none, and a stage named like a segment,
    `admin`, took a real one off). Then ``canonical_path``."""
    if template is not None:
        filled = filled_template(template, parameters)
        if filled is not None:
            return canonical_path(filled)
    if stage and stage != "$default" and (domain is None or default_endpoint(domain, api_id)):
        prefix = "/" + stage
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :] or "/"
    return canonical_path(path)


def default_endpoint(domain: str, api_id: str | None) -> bool:
    """Whether ``domain`` is the API's own execute-api host (``<apiId>.execute-api.<region>.
    amazonaws.com``, its dual-stack ``.api.aws`` form, any case, a trailing dot or a port), not
    a custom domain: a host spelled otherwise kept the stage on the path, and the request was
    decided as the proxy. A custom domain's name cannot start with the API's id and
    `.execute-api.`: that name is AWS's."""
    host = domain.lower().partition(":")[0].rstrip(".")
    if not api_id:
        return ".execute-api." in host
    return host.startswith(f"{api_id.lower()}.execute-api.")


def _dots(decoded: str) -> bool:
    """A decoded segment that is, or holds, a `.` or `..` segment (`..%2Finternal` decodes to
    `../internal`; a backslash is a separator to some servers)."""
    return any(part in (".", "..") for part in decoded.replace("\\", "/").split("/"))


@functools.lru_cache(maxsize=4096)
def canonical_path(path: str) -> str:
    """Without empty segments (``//``, a trailing ``/``), as the route table reads a path: a
    policy on ``context.request.path`` sees the path its route was matched on
    (``/files//internal`` was decided as ``/files/{name}`` with ``internal``, and passed a
    forbid on ``/files/internal*``). A ``.`` or ``..`` segment (percent-encoded too) is
    refused: a backend resolving it would serve another path than the one decided."""
    if not path.isascii():
        _check_text(path)
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if segment in (".", "..") or (
            ("%" in segment or "\\" in segment) and _dots(unquote(segment))
        ):
            raise InvalidParameter("bad_path", "the path has a '.' or '..' segment")
    return "/" + "/".join(segments)


def _method(value: str) -> str:
    method = value.upper()
    if method not in _METHODS:
        raise InvalidRequest("malformed_event", f"unknown HTTP method {value[:16]!r}")
    return method


def _ip(value: object) -> str | None:
    return _parse_ip(value) if isinstance(value, str) else None


def client_address(value: object) -> str | None:
    """A client's address as Cedar's ``ip()`` takes it (``::ffff:10.1.2.3`` is the IPv4
    client 10.1.2.3), or None: the one reading for the gateway and the backend middleware."""
    return _ip(value)


@functools.lru_cache(maxsize=4096)  # clients repeat; ipaddress parsing is slow
def _parse_ip(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None  # the published samples carry "..." and "IP": no address, not an error
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:  # fe80::1%eth0: Cedar's ip() refuses zone ids
            return None
        if address.ipv4_mapped:  # ::ffff:10.1.2.3 is the IPv4 client 10.1.2.3
            return str(address.ipv4_mapped)
    return str(address)


# The end of year 9999 in milliseconds: later times overflow a datetime (and Cedar's).
_MAX_EPOCH_MS = 253_402_300_799_999


def _epoch_ms(value: object) -> int | None:
    """The request time; absent or not a positive integer: none (the clock's time is used). A
    time past year 9999 is no request API Gateway sends: refused."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    if value > _MAX_EPOCH_MS:
        raise InvalidRequest("malformed_event", "the request time is past year 9999")
    return value
