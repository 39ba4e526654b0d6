"""Where user attributes come from: a small Protocol, DynamoDB behind it, and an in-memory fake.

boto3 is imported here only, and lazily: a hook without a table never pays for it, and the
client is built once per container (Lambda reuses the module between invocations).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any, Protocol, cast

from authorizer.stores.aws_errors import failure_reason
from pre_token_hook.errors import AttributesUnavailable, ConfigError

# Cognito gives the trigger 5 s in all, cold start included (boto3 import + client build measured
# at ~0.25 s here, more on a small Lambda). Worst case of one GetItem with these numbers:
#   2 attempts x (0.5 s connect + 0.75 s read) + one backoff <= 1.0 s = 3.5 s,
# leaving >= 1 s for the rest. The backoff before the retry is rand(0,1) x 1 s in botocore's
# standard mode (recent botocore uses 25 ms instead for non-throttling DynamoDB errors; it would
# also honour an `x-amz-retry-after` response header, which DynamoDB is not known to send).
# A healthy in-region GetItem takes milliseconds, so 0.75 s only trips on a real fault.
# `total_max_attempts` counts the first try; `max_attempts` counts retries only (2 would mean
# 3 tries, up to 4.75 s: too close to 5 s).
CONNECT_TIMEOUT_S = 0.5
READ_TIMEOUT_S = 0.75
TOTAL_MAX_ATTEMPTS = 2
WORST_CASE_S = TOTAL_MAX_ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) + 1.0


class AttributeSource(Protocol):
    """The user's extra attributes by ``sub``: None when there is no item.

    Raises ``AttributesUnavailable`` when it cannot tell (network, throttling, bad data).
    """

    def get(self, sub: str) -> Mapping[str, Any] | None: ...


class DynamoClient(Protocol):
    """The one call of a boto3 DynamoDB client the hook uses."""

    def get_item(self, **kwargs: Any) -> Mapping[str, Any]: ...


class InMemoryAttributeSource:
    """Items held in a dict, keyed by ``sub`` (tests, the local issuer)."""

    def __init__(self, items: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._items: dict[str, Mapping[str, Any]] = dict(items or {})

    @classmethod
    def from_items(cls, items: Collection[Mapping[str, Any]]) -> InMemoryAttributeSource:
        return cls({str(item["sub"]): item for item in items})

    def put(self, item: Mapping[str, Any]) -> None:
        self._items[str(item["sub"])] = item

    def get(self, sub: str) -> Mapping[str, Any] | None:
        return self._items.get(sub)


@functools.cache
def dynamodb_client() -> DynamoClient:
    """The container's DynamoDB client (region and ``AWS_ENDPOINT_URL_DYNAMODB`` from the env).

    boto3 and botocore are imported here, not at module level: a hook without a table never
    pays for them (~0.2-0.4 s of cold start).
    """
    import boto3  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415
    from botocore.exceptions import NoRegionError  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": TOTAL_MAX_ATTEMPTS, "mode": "standard"},
    )
    # Lambda sets AWS_REGION (and AWS_DEFAULT_REGION); boto3 itself reads only the latter.
    region = os.environ.get("AWS_REGION") or None
    try:
        client = boto3.client("dynamodb", region_name=region, config=config)
    except NoRegionError as exc:
        raise ConfigError("no AWS region for DynamoDB: set AWS_REGION") from exc
    return cast(DynamoClient, client)


class DynamoDBAttributeSource:
    """``GetItem`` on a table whose partition key is ``sub`` (a string)."""

    def __init__(
        self,
        table: str,
        client: DynamoClient | None = None,
        *,
        attributes: Collection[str] | None = None,
        consistent_read: bool = False,
    ) -> None:
        self.table = table
        self.client = client if client is not None else dynamodb_client()
        self._request: dict[str, Any] = {"TableName": table, "ConsistentRead": consistent_read}
        if attributes:
            names = {f"#a{i}": name for i, name in enumerate(attributes)}
            self._request["ProjectionExpression"] = ", ".join(names)
            self._request["ExpressionAttributeNames"] = names

    def get(self, sub: str) -> Mapping[str, Any] | None:
        try:
            response = self.client.get_item(Key={"sub": {"S": sub}}, **self._request)
        except Exception as exc:
            raise classify_error(exc) from exc
        raw = response.get("Item")
        if raw is None:
            return None
        try:
            return from_dynamodb_item(raw)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise AttributesUnavailable("malformed_item", str(exc)) from exc


def classify_error(exc: Exception) -> AttributesUnavailable:
    """A botocore failure -> a stable reason code (no attribute values in the message)."""
    return AttributesUnavailable(*failure_reason(exc))


def from_dynamodb_item(item: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise TypeError("item is not a map")
    return {str(name): from_attribute_value(value) for name, value in item.items()}


def from_attribute_value(value: Mapping[str, Any]) -> Any:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise TypeError("attribute value must have exactly one type descriptor")
    ((kind, data),) = value.items()
    if kind == "S":
        return str(data)
    if kind == "N":
        return Decimal(data)
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        return None
    if kind == "B":
        return bytes(data)
    if kind == "SS":
        return {str(v) for v in data}
    if kind == "NS":
        return {Decimal(v) for v in data}
    if kind == "BS":
        return {bytes(v) for v in data}
    if kind == "L":
        return [from_attribute_value(v) for v in data]
    if kind == "M":
        return from_dynamodb_item(data)
    raise TypeError(f"unknown DynamoDB type descriptor {kind!r}")
