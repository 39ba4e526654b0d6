"""Fixtures for the pre-token hook: a clean runtime and environment for every test, DynamoDB in
moto (in-process, and as a server on loopback)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from pre_token_hook import handler
from pre_token_hook.attributes import dynamodb_client
from tests.pre_token_hook.hook_support import HOOK_ENV, create_table, put_sample


@pytest.fixture(autouse=True)
def _clean_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees another's runtime, environment or cached boto3 client."""
    for name in HOOK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    handler.reset()
    dynamodb_client.cache_clear()
    yield
    handler.reset()
    dynamodb_client.cache_clear()


@pytest.fixture
def caplog_hook(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="pre_token_hook")
    return caplog


@pytest.fixture
def moto_dynamodb() -> Iterator[Any]:
    """DynamoDB in-process (moto ``mock_aws``) with the table and the sample item."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client)
        put_sample(client)
        yield client


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """A moto server on loopback, on a free port, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
