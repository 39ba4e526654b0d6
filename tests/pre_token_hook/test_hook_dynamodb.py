"""The DynamoDB source: moto in-process and as a loopback server through a real boto3 client,
botocore stubs for service faults, real sockets for network faults. No test sleeps."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore import exceptions as bce
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from pre_token_hook import handler
from pre_token_hook.attributes import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    TOTAL_MAX_ATTEMPTS,
    WORST_CASE_S,
    DynamoDBAttributeSource,
    classify_error,
    dynamodb_client,
    from_dynamodb_item,
)
from pre_token_hook.config import Settings, load_settings
from pre_token_hook.errors import AttributesUnavailable, ConfigError
from tests.pre_token_hook.hook_support import (
    SAMPLE_CLAIMS,
    SUB,
    TABLE,
    create_table,
    put_sample,
    sample_item,
    user_event,
)


def claims_of(out: dict[str, Any], token: str = "accessTokenGeneration") -> dict[str, Any]:
    result: dict[str, Any] = out["response"]["claimsAndScopeOverrideDetails"][token][
        "claimsToAddOrOverride"
    ]
    return result


# --- moto, in-process -------------------------------------------------------------------------


def test_get_returns_the_item_as_boto3_types(moto_dynamodb: Any) -> None:
    source = DynamoDBAttributeSource(TABLE, client=moto_dynamodb)
    assert source.get(SUB) == sample_item()
    assert source.get("no-such-user") is None


def test_handler_end_to_end_from_the_environment(
    moto_dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER_ATTRIBUTES_TABLE", TABLE)
    out = handler.lambda_handler(user_event("2", groups=["employees"]), None)
    assert claims_of(out) == SAMPLE_CLAIMS
    assert claims_of(out, "idTokenGeneration") == SAMPLE_CLAIMS
    groups = out["response"]["claimsAndScopeOverrideDetails"]["groupOverrideDetails"]
    assert groups["groupsToOverride"] == ["employees", "hr-engineering"]
    v1 = handler.lambda_handler(user_event("1"), None)
    assert v1["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]["dailyLimit"] == "5000"


def test_a_declared_mapping_reads_only_what_it_needs(moto_dynamodb: Any) -> None:
    settings = load_settings({"CLAIM_MAPPING": json.dumps({"tenant": {}, "dailyLimit": {}})})
    source = DynamoDBAttributeSource(TABLE, client=moto_dynamodb, attributes=settings.projection)
    assert source.get(SUB) == {
        "tenant": "acme",
        "dailyLimit": Decimal(5000),
        "groups": ["hr-engineering"],
    }


def test_a_missing_table_is_a_read_failure(moto_dynamodb: Any) -> None:
    source = DynamoDBAttributeSource("no-such-table", client=moto_dynamodb)
    with pytest.raises(AttributesUnavailable) as info:
        source.get(SUB)
    assert info.value.reason == "table_not_found"
    handler.configure(Settings(table="no-such-table"), source)
    with pytest.raises(AttributesUnavailable, match="table_not_found"):
        handler.lambda_handler(user_event("2"), None)


def test_a_malformed_item_from_dynamodb_fails_closed(moto_dynamodb: Any) -> None:
    moto_dynamodb.put_item(
        TableName=TABLE, Item={"sub": {"S": "bad"}, "tenant": {"S": "acme"}, "groups": {"N": "7"}}
    )
    handler.configure(Settings(table=TABLE), DynamoDBAttributeSource(TABLE, client=moto_dynamodb))
    with pytest.raises(AttributesUnavailable, match="malformed_item"):
        handler.lambda_handler(user_event("2", sub="bad"), None)
    # Fail open is for an outage: an item read but malformed is data the tokens would lose.
    handler.configure(
        Settings(table=TABLE, fail_open=True), DynamoDBAttributeSource(TABLE, client=moto_dynamodb)
    )
    with pytest.raises(AttributesUnavailable, match="malformed_item"):
        handler.lambda_handler(user_event("2", sub="bad"), None)


def test_every_dynamodb_type_round_trips_like_boto3(moto_dynamodb: Any) -> None:
    wire = {
        "sub": {"S": "typed"},
        "s": {"S": "text"},
        "n": {"N": "-12.50"},
        "big": {"N": "123456789012345678901234567890"},
        "b": {"B": b"\x00\x01"},
        "t": {"BOOL": True},
        "null": {"NULL": True},
        "ss": {"SS": ["b", "a"]},
        "ns": {"NS": ["3", "1.5"]},
        "bs": {"BS": [b"x"]},
        "l": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"k": {"BOOL": False}}}]},
        "m": {"M": {"invoices": {"M": {"view": {"BOOL": True}}}}},
    }
    moto_dynamodb.put_item(TableName=TABLE, Item=wire)
    raw = moto_dynamodb.get_item(TableName=TABLE, Key={"sub": {"S": "typed"}})["Item"]
    deserializer = TypeDeserializer()
    assert from_dynamodb_item(raw) == {k: deserializer.deserialize(v) for k, v in raw.items()}
    item = DynamoDBAttributeSource(TABLE, client=moto_dynamodb).get("typed")
    assert item is not None
    handler.configure(Settings(table=TABLE), DynamoDBAttributeSource(TABLE, client=moto_dynamodb))
    claims = claims_of(handler.lambda_handler(user_event("2", sub="typed"), None))
    assert claims == {
        "s": "text",
        # Cedar has no floats, and no integer past its Long: their exact text.
        "n": "-12.50",
        "big": "123456789012345678901234567890",
        "t": True,
        "ss": ["a", "b"],
        "ns": ["1.5", 3],
        "l": ["x", 1, {"k": False}],
        "m": {"invoices": {"view": True}},
    }  # binary and null attributes are skipped (and logged)


attribute_values = st.recursive(
    st.one_of(
        st.text(max_size=10),
        st.decimals(
            allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9
        ),
        st.booleans(),
        st.none(),
        st.binary(max_size=5),
        st.frozensets(st.text(min_size=1, max_size=5), min_size=1, max_size=4).map(set),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200)
@given(value=attribute_values)
def test_the_deserializer_agrees_with_boto3(value: Any) -> None:
    wire = {"v": TypeSerializer().serialize(value)}
    assert from_dynamodb_item(wire) == {"v": TypeDeserializer().deserialize(wire["v"])}


# --- service faults with botocore stubs -------------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_the_request_is_one_get_item_by_sub(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_response(
        "get_item",
        {"Item": {"sub": {"S": SUB}, "tenant": {"S": "acme"}}},
        {"TableName": TABLE, "Key": {"sub": {"S": SUB}}, "ConsistentRead": False},
    )
    assert DynamoDBAttributeSource(TABLE, client=client).get(SUB) == {"sub": SUB, "tenant": "acme"}


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("ProvisionedThroughputExceededException", 400, "throttled"),
        ("ThrottlingException", 400, "throttled"),
        ("RequestLimitExceeded", 400, "throttled"),
        ("ResourceNotFoundException", 400, "table_not_found"),
        ("AccessDeniedException", 400, "access_denied"),
        ("UnrecognizedClientException", 400, "access_denied"),
        ("InternalServerError", 500, "service_error"),
        ("ValidationException", 400, "service_error"),
    ],
)
def test_service_errors_fail_closed_with_a_reason(
    stubbed: tuple[Any, Stubber], code: str, status: int, reason: str
) -> None:
    client, stub = stubbed
    stub.add_client_error("get_item", service_error_code=code, http_status_code=status)
    handler.configure(Settings(table=TABLE), DynamoDBAttributeSource(TABLE, client=client))
    with pytest.raises(AttributesUnavailable) as info:
        handler.lambda_handler(user_event("2"), None)
    assert info.value.reason == reason
    assert isinstance(info.value.__cause__, AttributesUnavailable)
    assert info.value.__cause__.detail == code


def test_throttling_fails_open_when_configured(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_client_error("get_item", service_error_code="ProvisionedThroughputExceededException")
    handler.configure(
        Settings(table=TABLE, fail_open=True), DynamoDBAttributeSource(TABLE, client=client)
    )
    out = handler.lambda_handler(user_event("2"), None)
    assert claims_of(out) == {}


class RawClient:
    """A client answering one fixed raw response (for shapes botocore's stubs refuse to fake)."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(self.response)


@pytest.mark.parametrize(
    "item",
    [{"x": {"Z": "1"}}, {"x": {"S": "a", "N": "1"}}, {"x": {"N": "not-a-number"}}, {"x": "plain"}],
)
def test_undecodable_items_are_malformed(item: dict[str, Any]) -> None:
    source = DynamoDBAttributeSource(TABLE, client=RawClient({"Item": item}))
    with pytest.raises(AttributesUnavailable) as info:
        source.get(SUB)
    assert info.value.reason == "malformed_item"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (bce.EndpointConnectionError(endpoint_url="http://x"), "unreachable"),
        (bce.ConnectionClosedError(endpoint_url="http://x"), "unreachable"),
        (bce.ConnectTimeoutError(endpoint_url="http://x"), "timeout"),
        (bce.ReadTimeoutError(endpoint_url="http://x"), "timeout"),
        (bce.NoCredentialsError(), "no_credentials"),
        (RuntimeError("boom"), "error"),
    ],
)
def test_client_side_failures_are_classified(exc: Exception, reason: str) -> None:
    assert classify_error(exc).reason == reason


# --- the real client: configuration, network faults, and time -------------------------------


def test_the_client_is_built_once_with_bounded_timeouts_and_retries() -> None:
    client = dynamodb_client()
    assert dynamodb_client() is client
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    assert config.retries == {"total_max_attempts": TOTAL_MAX_ATTEMPTS, "mode": "standard"}
    # Two tries, each bounded by connect + read, plus one backoff of at most 1 s, stay well
    # inside Cognito's 5 s (cold start included).
    assert WORST_CASE_S <= 3.5


def test_no_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ConfigError, match="AWS_REGION"):
        dynamodb_client()


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_either_region_variable_is_enough(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv(variable, "eu-west-3")
    assert dynamodb_client().meta.region_name == "eu-west-3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_unreachable_dynamodb_fails_closed_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", closed)
    monkeypatch.setenv("USER_ATTRIBUTES_TABLE", TABLE)
    started = time.perf_counter()
    with pytest.raises(AttributesUnavailable) as info:
        handler.lambda_handler(user_event("2"), None)
    assert info.value.reason == "unreachable"
    assert time.perf_counter() - started < 1.0
    assert dynamodb_client().meta.endpoint_url == closed  # the env var was honoured


class BlackHole:
    """Accepts TCP connections on loopback and never answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.connections:
            conn.close()


def test_a_hanging_dynamodb_is_abandoned_well_inside_cognitos_five_seconds(
    monkeypatch: pytest.MonkeyPatch, caplog_hook: pytest.LogCaptureFixture
) -> None:
    hole = BlackHole()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{hole.port}")
        monkeypatch.setenv("USER_ATTRIBUTES_TABLE", TABLE)
        handler.configure()
        started = time.perf_counter()
        with pytest.raises(AttributesUnavailable) as info:
            handler.lambda_handler(user_event("2"), None)
        elapsed = time.perf_counter() - started
    finally:
        hole.close()
    assert info.value.reason == "timeout"
    assert len(hole.connections) == TOTAL_MAX_ATTEMPTS  # retried once, not more
    assert TOTAL_MAX_ATTEMPTS * READ_TIMEOUT_S <= elapsed < WORST_CASE_S
    assert (
        json.loads(caplog_hook.records[-1].getMessage())["latency_ms"]
        >= 1000 * TOTAL_MAX_ATTEMPTS * READ_TIMEOUT_S
    )


# --- moto as a server on loopback, through a real boto3 client --------------------------------


def test_against_a_moto_server_on_loopback(
    moto_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = f"users-{uuid.uuid4().hex[:8]}"
    admin = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server_url)
    create_table(admin, table)
    put_sample(admin, table)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server_url)
    monkeypatch.setenv("USER_ATTRIBUTES_TABLE", table)
    monkeypatch.setenv("GROUPS_MODE", "override")

    out = handler.lambda_handler(user_event("3", groups=["employees"]), None)
    assert claims_of(out) == SAMPLE_CLAIMS
    assert claims_of(out, "idTokenGeneration") == SAMPLE_CLAIMS
    groups = out["response"]["claimsAndScopeOverrideDetails"]["groupOverrideDetails"]
    assert groups["groupsToOverride"] == ["hr-engineering"]
    # The production client (AWS_ENDPOINT_URL_DYNAMODB honoured by boto3) did the read.
    assert dynamodb_client().meta.endpoint_url == moto_server_url

    missing = handler.lambda_handler(user_event("3", sub="nobody"), None)
    assert claims_of(missing) == {}
