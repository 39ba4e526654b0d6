"""Build the authorizer events API Gateway sends (the shapes authorizer/gateway/events.py reads).

Used by the local gateway, by `cedar-authz invoke` sample events and by the tests, so that all
three exercise the parser on the same shapes AWS produces.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

REGION, ACCOUNT, API_ID, STAGE = "us-east-1", "123456789012", "a1b2c3d4e5", "prod"
_PARAM = re.compile(r"\{([^{}+]+)\+?\}")


def method_arn(method: str, path: str, api_id: str = API_ID, stage: str = STAGE) -> str:
    service = f"arn:aws:execute-api:{REGION}:{ACCOUNT}"
    return f"{service}:{api_id}/{stage}/{method.upper()}/{path.lstrip('/')}"


def path_parameters(template: str, path: str) -> dict[str, str]:
    """Values of the template's `{name}` segments in the concrete path."""
    names = template.strip("/").split("/")
    parts = path.strip("/").split("/")
    found: dict[str, str] = {}
    for index, name in enumerate(names):
        match = _PARAM.fullmatch(name)
        if match and index < len(parts):
            found[match.group(1)] = "/".join(parts[index:]) if name.endswith("+}") else parts[index]
    return found


def token_event(method: str, path: str, authorization: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "TOKEN", "methodArn": method_arn(method, path)}
    if authorization is not None:
        event["authorizationToken"] = authorization
    return event


def rest_request_event(
    method: str,
    path: str,
    template: str,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    source_ip: str = "203.0.113.10",
    now_ms: int | None = None,
) -> dict[str, Any]:
    headers = dict(headers or {})
    query = dict(query or {})
    return {
        "type": "REQUEST",
        "methodArn": method_arn(method, path),
        "resource": template,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": path_parameters(template, path) or None,
        "stageVariables": None,
        "requestContext": {
            "path": f"/{STAGE}{path}",
            "accountId": ACCOUNT,
            "resourceId": "abc123",
            "stage": STAGE,
            "requestId": "local-request",
            "identity": {"sourceIp": source_ip, "userAgent": "cedar-authz"},
            "resourcePath": template,
            "httpMethod": method.upper(),
            "apiId": API_ID,
            "requestTimeEpoch": now_ms if now_ms is not None else int(time.time() * 1000),
        },
    }


def http_v1_event(
    method: str,
    path: str,
    template: str,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    source_ip: str = "203.0.113.10",
    now_ms: int | None = None,
) -> dict[str, Any]:
    event = rest_request_event(method, path, template, headers, query, source_ip, now_ms)
    authorization = next(
        (v for k, v in (headers or {}).items() if k.lower() == "authorization"), ""
    )
    event.update(
        {"version": "1.0", "identitySource": authorization, "authorizationToken": authorization}
    )
    return event


def http_v2_event(
    method: str,
    path: str,
    template: str | None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    source_ip: str = "203.0.113.10",
    now_ms: int | None = None,
) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    query = dict(query or {})
    route_key = f"{method.upper()} {template}" if template else "$default"
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": method_arn(method, path),
        "identitySource": [headers["authorization"]] if "authorization" in headers else [],
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query),
        "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "cedar-authz",
            },
            "requestId": "local-request",
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "pathParameters": (path_parameters(template, path) if template else {}) or None,
        "stageVariables": None,
    }
