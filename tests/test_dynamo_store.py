"""The DynamoDB entity store: items <-> entities (pure), BatchGetItem in moto (in-process and as
a server through a real boto3 client with endpoint_url), failures, and every sample scenario
decided from the table as from the JSON file."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from authorizer.config import AwsSettings, StoreSettings
from authorizer.errors import ConfigError, DependencyError
from authorizer.pdp import Authorizer
from authorizer.stores.dynamo_store import (
    DynamoEntityReader,
    MalformedItem,
    classify_error,
    dynamodb_client,
    dynamodb_store,
    entity_item,
    entity_key,
    item_entity,
    main,
    write_entities,
)
from authorizer.stores.entity_graph import UidKey, stored_entity
from authorizer.stores.store import CachingStore, EntityStoreUnavailable
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import ROOT, FakeClock
from tests.entity_tables import CORP, REGION, create_table
from tests.helpers import outcome, rest, user_token
from tests.test_sample_app import each_scenario

TABLE = "cedar-entities"
EMP = ("Corp::Employee", "emp-001")


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    dynamodb_client.cache_clear()
    yield
    dynamodb_client.cache_clear()


@pytest.fixture
def table() -> Iterator[Any]:
    """DynamoDB in-process with the sample entities loaded by the loader."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, TABLE)
        assert write_entities(client, TABLE, CORP) == len(CORP)
        yield client


# --- items <-> entities ---------------------------------------------------------------------------


def test_every_sample_entity_round_trips_through_its_item() -> None:
    for entity in CORP:
        item = entity_item(entity)
        assert item["pk"]["S"] == f"ENTITY#{entity['uid']['type']}#{entity['uid']['id']}"
        assert item_entity(item) == stored_entity(entity)


@given(st.text(min_size=0, max_size=30), st.lists(st.text(max_size=10), max_size=3))
def test_any_id_round_trips(ident: str, parents: list[str]) -> None:
    entity = {"uid": {"type": "Corp::UserGroup", "id": ident}, "attrs": {"n": ident},
              "parents": [{"type": "Corp::UserGroup", "id": p} for p in parents]}  # fmt: skip
    assert item_entity(entity_item(entity)) == stored_entity(entity)


def test_native_maps_and_string_sets_are_read_too() -> None:
    item = {
        "pk": {"S": "ENTITY#Corp::Employee#e1"},
        "attrs": {"M": {"tenant": {"S": "acme"}, "level": {"N": "3"}, "tags": {"SS": ["b", "a"]},
                        "group": {"M": {"__entity": {"M": {"type": {"S": "Corp::UserGroup"},
                                                           "id": {"S": "g"}}}}},
                        "ok": {"BOOL": True}, "list": {"L": [{"N": "1"}, {"S": "x"}]}}},
        "parents": {"SS": ['Corp::UserGroup::"g"']},
    }  # fmt: skip
    entity = item_entity(item)
    assert entity.document["attrs"] == {"tenant": "acme", "level": 3, "tags": ["a", "b"],
                                        "group": {"__entity": {"type": "Corp::UserGroup", "id": "g"}},
                                        "ok": True, "list": [1, "x"]}  # fmt: skip
    assert entity.parents == (("Corp::UserGroup", "g"),)
    assert entity.references == (("Corp::UserGroup", "g"),)


@pytest.mark.parametrize(
    "item",
    [
        {},
        {"pk": {"S": "USER#x"}},
        {"pk": {"S": "ENTITY#Corp::User"}},
        {"pk": {"N": "1"}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "type": {"S": "Corp::Other"}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "id": {"S": "b"}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "attrs": {"S": "{not json"}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "attrs": {"S": "[1]"}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "attrs": {"N": "1"}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "attrs": {"M": {"x": {"N": "1.5"}}}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "attrs": {"M": {"x": {"NULL": True}}}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "parents": {"S": "hr"}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "parents": {"L": [{"N": "1"}]}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "parents": {"L": [{"S": "hr"}]}},
        {"pk": {"S": "ENTITY#Corp::User#a"}, "tags": {"S": "1"}},
    ],
)
def test_malformed_items_are_refused(item: dict[str, Any]) -> None:
    with pytest.raises(MalformedItem):
        item_entity(item)


# --- reads in moto ----------------------------------------------------------------------------------


def test_batch_reads_answer_every_uid_in_batches_of_100(table: Any) -> None:
    extra = [{"uid": {"type": "Corp::Invoice", "id": f"inv-{n}"}, "attrs": {"tenant": "acme"},
              "parents": []} for n in range(230)]  # fmt: skip
    write_entities(table, TABLE, extra)
    reader = DynamoEntityReader(TABLE, table)
    wanted: list[UidKey] = [("Corp::Invoice", f"inv-{n}") for n in range(250)] + [EMP]
    found = reader.read(wanted)
    assert reader.calls == 3
    assert set(found) == set(wanted)
    assert sum(v is not None for v in found.values()) == 231
    assert found[EMP] == stored_entity(next(e for e in CORP if e["uid"]["id"] == "emp-001"))


def test_a_malformed_item_is_refused_not_taken_as_absent(table: Any) -> None:
    """Absent, a malformed item dropped what a `forbid` reads (its parents, its attributes)."""
    table.put_item(TableName=TABLE, Item={"pk": {"S": "ENTITY#Corp::Account#acc-9"},
                                          "attrs": {"S": "{broken"}})  # fmt: skip
    with pytest.raises(EntityStoreUnavailable, match='malformed_item: Corp::Account::"acc-9"'):
        DynamoEntityReader(TABLE, table).read([("Corp::Account", "acc-9"), EMP])
    assert DynamoEntityReader(TABLE, table).read([EMP])[EMP] is not None


class FlakyClient:
    """Answers with UnprocessedKeys ``unprocessed`` times, then for real."""

    def __init__(self, real: Any, unprocessed: int) -> None:
        self.real, self.unprocessed, self.calls = real, unprocessed, 0

    def batch_get_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.unprocessed:
            self.unprocessed -= 1
            return {"Responses": {TABLE: []}, "UnprocessedKeys": kwargs["RequestItems"]}
        return self.real.batch_get_item(**kwargs)

    def batch_write_item(self, **kwargs: Any) -> Any:
        return self.real.batch_write_item(**kwargs)


def test_unprocessed_keys_are_retried_with_backoff_then_fail(table: Any) -> None:
    sleeps: list[float] = []
    reader = DynamoEntityReader(TABLE, FlakyClient(table, 2), sleep=sleeps.append)
    assert reader.read([EMP])[EMP] is not None
    assert sleeps == [0.025, 0.05]
    stuck = DynamoEntityReader(TABLE, FlakyClient(table, 99), sleep=sleeps.append)
    with pytest.raises(EntityStoreUnavailable, match="throttled"):
        stuck.read([EMP])


def test_a_missing_table_is_a_dependency_error(table: Any) -> None:
    with pytest.raises(DependencyError, match="table_not_found"):
        DynamoEntityReader("no-such-table", table).read([EMP])


def test_throttling_is_classified() -> None:
    error = ClientError({"Error": {"Code": "ThrottlingException"}}, "BatchGetItem")
    assert classify_error(error).reason == "throttled"
    assert classify_error(RuntimeError()).reason == "error"


def test_dynamodb_unreachable_with_nothing_cached_is_a_dependency_error() -> None:
    """A real boto3 client against a closed loopback port: connection refused, fast."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = boto3.client(
        "dynamodb", region_name=REGION, endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(connect_timeout=0.2, read_timeout=0.2, retries={"total_max_attempts": 1}),
    )  # fmt: skip
    store = CachingStore(DynamoEntityReader(TABLE, client))
    with pytest.raises(EntityStoreUnavailable) as raised:
        store.lookup([EMP])
    assert raised.value.reason == "unreachable"
    assert isinstance(raised.value, DependencyError)


def test_a_store_needs_a_table_and_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError):
        dynamodb_store(StoreSettings())
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ConfigError, match="AWS_REGION"):
        dynamodb_store(StoreSettings(table=TABLE), AwsSettings())


# --- the authorizer over the table --------------------------------------------------------------------


@pytest.fixture
def dynamo_authz(table: Any, env: dict[str, str], clock: FakeClock) -> Authorizer:
    return Authorizer.from_env(
        {**env, "ENTITY_STORE_TABLE": TABLE, "AWS_REGION": REGION}, clock=clock
    )


@each_scenario
def test_every_sample_scenario_decides_alike_from_dynamodb(
    dynamo_authz: Authorizer,
    issuer: LocalIssuer,
    clock: FakeClock,
    user: str,
    method: str,
    path: str,
    template: str,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    assert dynamo_authz.engine.live_store
    token = user_token(issuer, user, clock.now)
    event = rest(token, method, path, template, **{"now_ms": int(clock.now * 1000), **kwargs})
    assert outcome(dynamo_authz, event) == expected


def test_a_malformed_resource_item_is_a_500_never_an_allow(
    table: Any, dynamo_authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    item = entity_item(next(e for e in CORP if e["uid"]["id"] == "acc-001"))
    item["attrs"] = {"M": {"tenant": {"S": "acme"}, "type": {"N": "1.5"}}}
    table.put_item(TableName=TABLE, Item=item)
    token = user_token(issuer, "pat", clock.now)
    event = rest(token, "POST", "/accounts/acc-001/transfers", "/accounts/{accountId}/transfers",
                 query={"amount": "10"})  # fmt: skip
    with pytest.raises(DependencyError, match="acc-001"):
        dynamo_authz.handle(event)


def test_an_outage_is_a_500_not_a_deny(
    dynamo_authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    store = dynamo_authz.engine.store
    assert isinstance(store, CachingStore)
    store.reader = DynamoEntityReader("no-such-table", store.reader.client)  # type: ignore[attr-defined]
    token = user_token(issuer, "alice", clock.now)
    with pytest.raises(DependencyError):
        dynamo_authz.handle(rest(token, "GET", "/employees/emp-001", "/employees/{employeeId}"))


# --- a moto server through a real boto3 client ---------------------------------------------------------


def test_the_loader_and_the_authorizer_against_a_moto_server(
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    issuer: LocalIssuer,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server)
    assert main(["server-entities", str(ROOT / "entities" / "corp.json"), "--create"]) == 0
    assert f"wrote {len(CORP)} entities" in capsys.readouterr().out
    authz = Authorizer.from_env(
        {**env, "ENTITY_STORE_TABLE": "server-entities", "AWS_REGION": REGION,
         "AWS_ENDPOINT_URL_DYNAMODB": moto_server, "CEDAR_ENTITIES": "none"}, clock=clock,
    )  # fmt: skip
    store = authz.engine.store
    assert isinstance(store, CachingStore)
    reader = store.reader
    assert isinstance(reader, DynamoEntityReader)
    assert reader.client.meta.endpoint_url == moto_server  # type: ignore[attr-defined]
    for user, path, expected in [("paula", "/employees/emp-001/salary", "Allow"),
                                 ("alice", "/employees/emp-001/salary", "Deny"),
                                 ("mallory", "/employees/emp-001/salary", "Deny"),
                                 ("harriet", "/employees/emp-002/salary", "Allow")]:  # fmt: skip
        event = rest(
            user_token(issuer, user, clock.now), "GET", path, "/employees/{employeeId}/salary"
        )
        assert outcome(authz, event) == expected, user
    # The same item written again by the loader is read back unchanged.
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server)
    raw = client.get_item(TableName="server-entities", Key={"pk": {"S": entity_key(EMP)}})["Item"]
    assert json.loads(raw["attrs"]["S"])["division"] == "engineering"
