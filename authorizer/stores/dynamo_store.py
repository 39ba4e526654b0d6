"""The entity store in DynamoDB: one table, one item per Cedar entity, read with BatchGetItem.

Key design (single table, partition key only)::

    pk       S       ENTITY#<type>#<id>        e.g. ENTITY#Corp::Employee#emp-001
    type     S       Corp::Employee            optional; must agree with pk
    id       S       emp-001                   optional; must agree with pk
    attrs    S | M   the Cedar JSON attributes, as a JSON string (lossless: entity references
                     as {"__entity": {"type", "id"}}, extension values as {"__extn": ...}) or
                     as a native map (numbers must be whole: Cedar Longs; sets as SS/NS or L)
    parents  L | SS  the parents as Cedar uid text, Corp::UserGroup::"hr" (the id JSON-quoted)
    tags     S | M   optional Cedar entity tags, as attrs

A type name never holds ``#``, so ``pk`` splits at the first ``#`` after ``ENTITY#``; ids may
hold anything. Table: ``KeySchema [{pk, HASH}]``, ``AttributeDefinitions [{pk, S}]``, no sort
key, any billing mode; the authorizer needs ``dynamodb:BatchGetItem`` on it, the loader
``dynamodb:BatchWriteItem``.

What lives there: resource entities (Employee -> group, Account -> tenant, type, status), the
group hierarchy (a UserGroup's parents: subgroup of, sibling via ``hrGroup``), and a user's
memberships as the parents of the user's own item (``ENTITY#Corp::User#<prefix>|<sub>``, read
when ``USER_GROUPS_FROM_STORE=true``; an item with no parents means no groups). User and group
ids carry ``ENTITY_ID_PREFIX`` as the token's do (``<prefix>|<sub>``, ``<prefix>|<group>``).

Reads: the engine asks for the entities of one round of ``entity_graph.closure`` at a time (up
to 100 keys per BatchGetItem; UnprocessedKeys retried a few times). An item that cannot be read
as an entity (or, in ``CachingStore``, does not fit the schema) is refused as the store's
failure, never taken as absent (a parent or an attribute a ``forbid`` reads would be missing).
A failed call is ``EntityStoreUnavailable`` (a
``DependencyError``: 500, not a cached Deny). boto3 is imported only when a table is configured.

Loading: ``python -m authorizer.stores.dynamo_store TABLE entities/corp.json [--create]`` (or
``write_entities``), BatchWriteItem in chunks of 25.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, cast

from authorizer.config import AWS_DEFAULTS, AwsSettings, StoreSettings
from authorizer.errors import ConfigError
from authorizer.stores.aws_errors import failure_reason
from authorizer.stores.entity_graph import (
    StoredEntity,
    UidKey,
    parse_uid_text,
    stored_entity,
    uid_text,
)
from authorizer.stores.store import CachingStore, EntityStoreUnavailable

logger = logging.getLogger(__name__)

KEY = "pk"
PREFIX = "ENTITY#"
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
RETRIES = 3  # extra BatchGetItem/BatchWriteItem calls for unprocessed keys
# A healthy in-region BatchGetItem takes milliseconds; these only trip on a fault. Worst case of
# one failing round: 2 attempts x (0.5 s connect + 1 s read) + a backoff below 1 s, inside the
# authorizer's 10 s, and the first failing round ends the request.
CONNECT_TIMEOUT_S = 0.5
READ_TIMEOUT_S = 1.0
TOTAL_MAX_ATTEMPTS = 2


class MalformedItem(ValueError):
    """An item that is not a Cedar entity in this table's format."""


class DynamoClient(Protocol):
    """The calls of a boto3 DynamoDB client (low-level, wire format) this module uses."""

    def batch_get_item(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def batch_write_item(self, **kwargs: Any) -> Mapping[str, Any]: ...


def entity_key(uid: UidKey) -> str:
    return f"{PREFIX}{uid[0]}#{uid[1]}"


def key_uid(key: str) -> UidKey:
    if not key.startswith(PREFIX):
        raise MalformedItem(f"{KEY} must start with {PREFIX}: {key[:80]!r}")
    kind, cut, ident = key[len(PREFIX) :].partition("#")
    if not kind or not cut:
        raise MalformedItem(f"{KEY} must be {PREFIX}<type>#<id>: {key[:80]!r}")
    return kind, ident


# --- items <-> entities (pure) --------------------------------------------------------------


def item_entity(item: Mapping[str, Any]) -> StoredEntity:
    """A DynamoDB item (wire format) -> the entity; ``MalformedItem`` when it is not one."""
    try:
        uid = key_uid(_string(item, KEY))
        for name, value in (("type", uid[0]), ("id", uid[1])):
            if name in item and _string(item, name) != value:
                raise MalformedItem(f"{name} disagrees with {KEY}")
        entity: dict[str, Any] = {
            "uid": {"type": uid[0], "id": uid[1]},
            "attrs": _record(item.get("attrs")),
            "parents": [
                {"type": t, "id": i} for t, i in map(parse_uid_text, _strings(item.get("parents")))
            ],
        }
        if item.get("tags") is not None:
            entity["tags"] = _record(item["tags"])
        return stored_entity(entity)
    except MalformedItem:
        raise
    except (ValueError, TypeError, KeyError, ArithmeticError) as error:
        raise MalformedItem(str(error)) from None


def entity_item(entity: Mapping[str, Any]) -> dict[str, Any]:
    """A Cedar JSON entity -> its item (wire format): attrs as a JSON string, lossless."""
    stored = stored_entity(entity)
    document = stored.document
    item: dict[str, Any] = {
        KEY: {"S": entity_key(stored.uid)},
        "type": {"S": stored.uid[0]},
        "id": {"S": stored.uid[1]},
        "attrs": {"S": json.dumps(document["attrs"], sort_keys=True, ensure_ascii=False)},
        "parents": {"L": [{"S": uid_text(p)} for p in stored.parents]},
    }
    if "tags" in document:
        item["tags"] = {"S": json.dumps(document["tags"], sort_keys=True, ensure_ascii=False)}
    return item


def _string(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, Mapping) or not isinstance(value.get("S"), str):
        raise MalformedItem(f"{name} must be a string attribute")
    return str(value["S"])


def _record(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        parsed = json.loads(value["S"])
        if not isinstance(parsed, dict):
            raise MalformedItem("attrs must hold a JSON object")
        return parsed
    if isinstance(value, Mapping) and "M" in value:
        native = _native(value)
        assert isinstance(native, dict)
        return native
    raise MalformedItem("attrs must be a JSON string or a map")


def _strings(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping) and isinstance(value.get("SS"), list):
        return [str(v) for v in value["SS"]]
    if isinstance(value, Mapping) and isinstance(value.get("L"), list):
        return [_plain_string(v) for v in value["L"]]
    raise MalformedItem("parents must be a list of strings")


def _plain_string(value: object) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    raise MalformedItem("parents must be a list of strings")


def _native(value: object) -> Any:
    """A native DynamoDB value -> Cedar JSON: whole numbers only (Cedar has Longs, no floats)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise MalformedItem("attribute value must have one type descriptor")
    ((kind, data),) = value.items()
    if kind == "S":
        return str(data)
    if kind == "BOOL":
        return bool(data)
    if kind in ("N", "NS"):
        numbers = [Decimal(d) for d in (data if kind == "NS" else [data])]
        if any(n != n.to_integral_value() for n in numbers):
            raise MalformedItem("a number that is not whole (Cedar has no floats)")
        ints = [int(n) for n in numbers]
        return ints if kind == "NS" else ints[0]
    if kind == "SS":
        return sorted(str(d) for d in data)
    if kind == "L":
        return [_native(v) for v in data]
    if kind == "M":
        return {str(k): _native(v) for k, v in dict(data).items()}
    raise MalformedItem(f"DynamoDB type {kind} has no Cedar value")


# --- reads ----------------------------------------------------------------------------------


class DynamoEntityReader:
    """``BatchReader`` over a table of the design above."""

    def __init__(
        self,
        table: str,
        client: DynamoClient,
        consistent_read: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table, self.client, self.sleep = table, client, sleep
        self.consistent_read = consistent_read
        self.calls = 0

    def read(self, uids: Sequence[UidKey]) -> dict[UidKey, StoredEntity | None]:
        found: dict[UidKey, StoredEntity | None] = dict.fromkeys(uids)
        by_key = {entity_key(uid): uid for uid in uids}
        keys = list(by_key)
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            for item in self._batch(keys[start : start + BATCH_GET_LIMIT]):
                wanted = by_key.get(item.get(KEY, {}).get("S", ""))
                if wanted is None:
                    continue
                try:
                    found[wanted] = item_entity(item)
                except MalformedItem as error:
                    # Absent, it would drop a parent or an attribute a `forbid` reads (a user's
                    # groups from the token instead, a folder chain cut): refused, as an outage.
                    raise EntityStoreUnavailable(
                        "malformed_item", f"{uid_text(wanted)}: {str(error)[:200]}"
                    ) from None
        return found

    def _batch(self, keys: list[str]) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        request: dict[str, Any] = {
            self.table: {"Keys": [{KEY: {"S": k}} for k in keys],
                         "ConsistentRead": self.consistent_read}
        }  # fmt: skip
        for attempt in range(RETRIES + 1):
            self.calls += 1
            try:
                response = self.client.batch_get_item(RequestItems=request)
            except Exception as error:
                raise classify_error(error) from error
            items.extend(response.get("Responses", {}).get(self.table, []))
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                return items
            if attempt < RETRIES:
                self.sleep(0.025 * 2**attempt)
        raise EntityStoreUnavailable("throttled", "unprocessed keys after retries")


def classify_error(error: Exception) -> EntityStoreUnavailable:
    """A botocore failure -> a stable reason code."""
    if isinstance(error, EntityStoreUnavailable):
        return error
    return EntityStoreUnavailable(*failure_reason(error))


def dynamodb_client_for(aws: AwsSettings) -> DynamoClient:
    """The client for the configured region and endpoint."""
    return dynamodb_client(aws.region, aws.dynamodb_endpoint)


@functools.cache
def dynamodb_client(region: str | None = None, endpoint_url: str | None = None) -> DynamoClient:
    """One client per container, with tight timeouts. boto3 is imported here only."""
    import boto3  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415
    from botocore.exceptions import NoRegionError  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": TOTAL_MAX_ATTEMPTS, "mode": "standard"},
    )
    try:
        client = boto3.client(
            "dynamodb", region_name=region, endpoint_url=endpoint_url, config=config
        )
    except NoRegionError as error:
        raise ConfigError("no AWS region for the entity store: set AWS_REGION") from error
    return cast(DynamoClient, client)


def dynamodb_store(
    settings: StoreSettings,
    aws: AwsSettings = AWS_DEFAULTS,
    clock: Callable[[], float] = time.time,
    client: DynamoClient | None = None,
) -> CachingStore:
    """The live store of ``ENTITY_STORE_TABLE``: DynamoDB behind the TTL cache."""
    if not settings.table:
        raise ConfigError("ENTITY_STORE_TABLE is not set")
    reader = DynamoEntityReader(settings.table, client or dynamodb_client_for(aws))
    return CachingStore.from_settings(reader, settings, clock)


# --- writes (the loader) --------------------------------------------------------------------


def write_entities(
    client: DynamoClient,
    table: str,
    entities: Iterable[Mapping[str, Any]],
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Put every entity (Cedar JSON) as an item; returns how many. Existing items are replaced."""
    items = [entity_item(e) for e in entities]
    for start in range(0, len(items), BATCH_WRITE_LIMIT):
        request: dict[str, Any] = {
            table: [
                {"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE_LIMIT]
            ]
        }
        for attempt in range(RETRIES + 2):
            response = client.batch_write_item(RequestItems=request)
            request = dict(response.get("UnprocessedItems") or {})
            if not request:
                break
            sleep(0.05 * 2**attempt)
        else:
            raise EntityStoreUnavailable("throttled", "unprocessed items after retries")
    return len(items)


def create_table(client: Any, table: str) -> None:
    """The table of the key design above (on-demand billing); waits until it exists."""
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m authorizer.stores.dynamo_store",
        description="Write a Cedar JSON entities file into the entity store table.",
    )
    parser.add_argument("table")
    parser.add_argument("entities", type=Path, help="a Cedar JSON entities file")
    parser.add_argument("--create", action="store_true", help="create the table first")
    args = parser.parse_args(argv)
    entities = json.loads(args.entities.read_text(encoding="utf-8"))
    if not isinstance(entities, list):
        parser.error(f"{args.entities}: a JSON list of entities is expected")
    client = dynamodb_client_for(AwsSettings.from_env(os.environ))
    if args.create:
        create_table(client, args.table)
    count = write_entities(client, args.table, entities)
    print(f"wrote {count} entities to {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
