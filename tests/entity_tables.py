"""Shared by the entity-store tests: the sample entities, an in-memory batch reader, a DynamoDB
table in moto, and an Authorizer over any store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from authorizer.cedar.engine import Engine
from authorizer.config import Settings
from authorizer.sdk.client import Authorizer
from authorizer.stores.entity_graph import StoredEntity, UidKey, stored_entity
from authorizer.stores.store import EntityStore, EntityStoreUnavailable
from tests.conftest import ROOT, FakeClock

CORP: list[dict[str, Any]] = json.loads((ROOT / "entities" / "corp.json").read_text())
REGION = "us-east-1"


class MemoryReader:
    """A ``BatchReader`` over a dict; records every batch; ``fail`` makes it unreachable."""

    def __init__(self, entities: Iterable[Mapping[str, Any]] = ()) -> None:
        self.items: dict[UidKey, StoredEntity] = {}
        self.batches: list[list[UidKey]] = []
        self.fail = False
        for entity in entities:
            self.put(entity)

    def put(self, entity: Mapping[str, Any]) -> None:
        stored = stored_entity(entity)
        self.items[stored.uid] = stored

    def remove(self, uid: UidKey) -> None:
        self.items.pop(uid, None)

    def read(self, uids: Sequence[UidKey]) -> dict[UidKey, StoredEntity | None]:
        self.batches.append(list(uids))
        if self.fail:
            raise EntityStoreUnavailable("unreachable", "test")
        return {uid: self.items.get(uid) for uid in uids}


def user(name: str, *groups: str, **attrs: Any) -> dict[str, Any]:
    """A User item: the user's memberships as its parents."""
    return {
        "uid": {"type": "Corp::User", "id": name},
        "attrs": attrs,
        "parents": [{"type": "Corp::UserGroup", "id": g} for g in groups],
    }


def authorizer_with(env: Mapping[str, str], store: EntityStore, clock: FakeClock) -> Authorizer:
    """The sample configuration with ``store`` as its entity store."""
    settings = Settings.from_env(env)
    schema = Path(env["CEDAR_SCHEMA"])
    engine = Engine.load(settings.policy_dir, schema, None, None, store=store)
    return Authorizer(settings, engine, clock=clock)


def create_table(client: Any, name: str) -> None:
    from authorizer.stores.dynamo_store import create_table as create  # noqa: PLC0415

    create(client, name)


def set_parents(client: Any, table: str, uid: UidKey, parents: Iterable[UidKey]) -> None:
    """Rewrite one item's parents in place (what an admin tool would do)."""
    from authorizer.stores.dynamo_store import entity_key  # noqa: PLC0415
    from authorizer.stores.entity_graph import uid_text  # noqa: PLC0415

    client.update_item(
        TableName=table,
        Key={"pk": {"S": entity_key(uid)}},
        UpdateExpression="SET parents = :p",
        ExpressionAttributeValues={":p": {"L": [{"S": uid_text(p)} for p in parents]}},
    )
