"""Pre-token hook latency: warm invocations in this process, cold starts in fresh interpreters.

Rows are (label, median_us, p99_us). Run: ``.venv/bin/python bench/bench_pre_token_hook.py``.

- warm, in-memory source: the hook's own cost per invocation (parse, map, guard, budget,
  render, one JSON log line), V1 / V2 / V3 client-credentials events.
- warm, DynamoDB: a real boto3 client over HTTP to a moto server on loopback. Moto's own request
  handling dominates; an in-region DynamoDB GetItem adds ~5-10 ms instead.
- cold, fresh interpreter (median of several): import of the handler alone; import + boto3
  import + client build + first invocation against the moto server; the whole process (Python
  start-up included) from the outside.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from pre_token_hook.attributes import DynamoDBAttributeSource, InMemoryAttributeSource
from pre_token_hook.config import Settings
from pre_token_hook.handler import Runtime, handle

ROOT = Path(__file__).resolve().parent.parent
SUB = "a36036a8-9061-424d-a737-56d57dae7bc6"
TABLE = "bench-user-attributes"
ITEM: dict[str, Any] = {
    "sub": SUB,
    "tenant": "acme",
    "department": "engineering",
    "permissions": ["employee:read"],
    "roles": ["viewer"],
    "dailyLimit": Decimal(5000),
    "groups": ["hr-engineering"],
}
COLD_RUNS = 7

Row = tuple[str, float, float]


def _event(version: str, trigger_source: str = "TokenGeneration_Authentication") -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": version,
        "triggerSource": trigger_source,
        "region": "us-east-1",
        "userPoolId": "us-east-1_EXAMPLE",
        "userName": "ana",
        "callerContext": {"awsSdkVersion": "bench", "clientId": "client1"},
        "request": {
            "userAttributes": {"sub": SUB, "email": "ana@example.com"},
            "groupConfiguration": {
                "groupsToOverride": ["employees"],
                "iamRolesToOverride": [],
                "preferredRole": None,
            },
            "scopes": ["aws.cognito.signin.user.admin"],
        },
        "response": {"claimsAndScopeOverrideDetails": None},
    }
    if trigger_source == "TokenGeneration_ClientCredentials":
        event["request"] = {"userAttributes": {}, "scopes": ["api/read"]}
    if version == "1":
        event["response"] = {"claimsOverrideDetails": None}
    return event


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[max(math.ceil(0.99 * len(ordered)) - 1, 0)]
    return statistics.median(ordered) / 1000, p99 / 1000


def _time(call: Callable[[], object], runs: int, warmup: int = 50) -> tuple[float, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    return _percentiles(samples)


def _invoke(event: dict[str, Any], runtime: Runtime) -> object:
    return handle(event, runtime)  # the hook never mutates its input


def warm_in_memory(runs: int = 5000) -> list[Row]:
    runtime = Runtime(Settings(), InMemoryAttributeSource.from_items([ITEM]))
    rows = []
    for label, event in [
        ("warm V1 (ID token, strings), in-memory source", _event("1")),
        ("warm V2 (both tokens, typed), in-memory source", _event("2")),
        ("warm V3 client credentials (no read)", _event("3", "TokenGeneration_ClientCredentials")),
    ]:
        median, p99 = _time(functools.partial(_invoke, event, runtime), runs)
        rows.append((label, median, p99))
    return rows


def _client(url: str) -> Any:
    """A real boto3 client to the moto server (dummy credentials: moto checks none)."""
    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def _start_moto() -> tuple[Any, str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = _client(url)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "sub", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sub", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(
        TableName=TABLE,
        Item={
            "sub": {"S": SUB},
            "tenant": {"S": "acme"},
            "department": {"S": "engineering"},
            "permissions": {"L": [{"S": "employee:read"}]},
            "roles": {"L": [{"S": "viewer"}]},
            "dailyLimit": {"N": "5000"},
            "groups": {"L": [{"S": "hr-engineering"}]},
        },
    )
    return server, url


def warm_dynamodb(url: str, runs: int = 300) -> list[Row]:

    client = _client(url)
    runtime = Runtime(Settings(table=TABLE), DynamoDBAttributeSource(TABLE, client=client))
    event = _event("2")
    median, p99 = _time(functools.partial(_invoke, event, runtime), runs, warmup=20)
    return [("warm V2, DynamoDB GetItem via boto3 -> moto server (loopback)", median, p99)]


_COLD_IMPORT = """
import time
t0 = time.perf_counter_ns()
import pre_token_hook.handler
print(time.perf_counter_ns() - t0)
"""
_COLD_FIRST_CALL = """
import time
t0 = time.perf_counter_ns()
from pre_token_hook import handler
event = {"version": "2", "triggerSource": "TokenGeneration_Authentication",
         "request": {"userAttributes": {"sub": %r}}, "response": {}}
out = handler.lambda_handler(event, None)["response"]["claimsAndScopeOverrideDetails"]
assert out["idTokenGeneration"]["claimsToAddOrOverride"]["tenant"] == "acme"
print(time.perf_counter_ns() - t0)
"""


def _cold(code: str, env: dict[str, str]) -> tuple[list[int], list[int]]:
    inside, outside = [], []
    for _ in range(COLD_RUNS):
        started = time.perf_counter_ns()
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
        )
        if result.returncode != 0:
            raise RuntimeError(f"cold-start probe failed:\n{result.stderr[-2000:]}")
        outside.append(time.perf_counter_ns() - started)
        inside.append(int(result.stdout.strip().splitlines()[-1]))
    return inside, outside


def cold_start(url: str) -> list[Row]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": url,
    }
    import_only, _ = _cold(_COLD_IMPORT, env)
    first_call, process = _cold(_COLD_FIRST_CALL % SUB, env | {"USER_ATTRIBUTES_TABLE": TABLE})
    return [
        ("cold: import pre_token_hook.handler (no boto3)", *_percentiles(import_only)),
        ("cold: import + boto3 + client + first GetItem (moto)", *_percentiles(first_call)),
        ("cold: whole process incl. Python start-up", *_percentiles(process)),
    ]


def run() -> list[Row]:
    # The hook logs one line per invocation: its formatting is measured, not a terminal's speed.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's access log
    log = logging.getLogger("pre_token_hook")
    quiet = logging.NullHandler()
    log.addHandler(quiet)
    propagate, log.propagate = log.propagate, False
    server = None
    try:
        rows = warm_in_memory()
        server, url = _start_moto()
        rows += warm_dynamodb(url)
        rows += cold_start(url)
    finally:
        log.removeHandler(quiet)
        log.propagate = propagate
        if server is not None:
            server.stop()
    return rows


def main() -> None:
    rows = run()
    width = max(len(label) for label, _, _ in rows)
    print(f"{'pre_token_hook':<{width}}  {'median us':>12}  {'p99 us':>12}")
    for label, median, p99 in rows:
        print(f"{label:<{width}}  {median:>12.1f}  {p99:>12.1f}")
    print(json.dumps({"cold_runs": COLD_RUNS, "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
