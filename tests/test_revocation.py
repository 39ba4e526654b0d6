"""Token revocation (authorizer/identity/revocation.py, `cedar-authz revoke`): revocations written by the
CLI into a table of a moto server on loopback, read by the real handler for real RS256 tokens;
the cache TTL runs on the injected clock. Faults come from a loopback HTTP server that answers as
DynamoDB fails (moto cannot throttle or deny): real botocore, real sockets."""

from __future__ import annotations

import io
import json
import logging
import math
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest
from botocore.config import Config

from authorizer.config import RevocationSettings
from authorizer.errors import ConfigError, DependencyError, InvalidToken, status_of
from authorizer.identity.revocation import (
    DynamoRevocationLookup,
    RevocationList,
    RevocationUnavailable,
    revocation_list,
    token_keys,
)
from authorizer.sdk.client import Authorizer
from authorizer.sdk.middleware import identify
from authorizer.stores.dynamo_store import create_table
from authorizer.telemetry import Telemetry
from authorizer.tooling import cli
from authorizer.tooling.local.issuer import LocalIssuer
from tests import test_dynamo_store
from tests.conftest import NOW, ROOT, FakeClock
from tests.entity_tables import REGION
from tests.helpers import outcome, rest, user_token

# The fixtures of the entity-store tests: the loopback moto server, AWS test credentials (autouse).
_aws_env = test_dynamo_store._aws_env

TTL = 30.0
EMPLOYEE = ("GET", "/employees/emp-001", "/employees/{employeeId}")  # per-route decision cache
EMPLOYEES = ("GET", "/employees", "/employees")  # token-level: the batch decision cache
READ = "get /employees/{employeeId}"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def table(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh revocation table on the moto server; boto3 (the CLI's too) pointed at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server)
    name = f"revocations-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server), name)
    monkeypatch.setenv("REVOCATION_TABLE", name)
    return name


def with_table(env: dict[str, str], table: str, moto_server: str, **extra: str) -> dict[str, str]:
    return {**env, "REVOCATION_TABLE": table, "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_server, **extra}  # fmt: skip


@pytest.fixture
def authz(
    env: dict[str, str], table: str, moto_server: str, clock: FakeClock
) -> Iterator[Authorizer]:
    """The sample app with REVOCATION_TABLE; its decision lines kept in ``authz.telemetry``."""
    built = Authorizer.from_env(with_table(env, table, moto_server), clock=clock)
    built.telemetry = Telemetry(stream=io.StringIO())
    yield built


def revoke(*args: str) -> int:
    return cli.main(["revoke", *args])


def claims_of(token: str) -> dict[str, Any]:
    from authorizer.identity.tokens import decode_unverified  # noqa: PLC0415

    return decode_unverified(token)[1]


def last_cache(authz: Authorizer) -> str:
    stream = authz.telemetry._stream
    assert isinstance(stream, io.StringIO)
    return str(json.loads(stream.getvalue().splitlines()[-1])["cache"])


def get(token: str, route: tuple[str, str, str] = EMPLOYEE) -> dict[str, Any]:
    return rest(token, *route)


# --- through the handler ----------------------------------------------------------------------


def test_a_token_revoked_by_jti_is_refused_once_the_cache_ttl_has_passed(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now)
    assert outcome(authz, get(token)) == "Allow"
    assert outcome(authz, get(token)) == "Allow"
    assert last_cache(authz) == "decision"  # the token and its decision were both cached
    assert revoke("--jti", claims_of(token)["jti"], "--expires", str(int(NOW) + 3600)) == 0
    lookups = authz.revocations.lookups if authz.revocations else -1
    clock.advance(TTL - 1)
    # Within the TTL the cached answer stands (the documented bound), and no table is read.
    assert outcome(authz, get(token)) == "Allow"
    assert authz.revocations is not None and authz.revocations.lookups == lookups
    clock.advance(1)
    assert outcome(authz, get(token)) == "401"
    assert outcome(authz, get(token, EMPLOYEES)) == "401"
    line = json.loads(authz.telemetry._stream.getvalue().splitlines()[-1])  # type: ignore[union-attr]
    assert (line["outcome"], line["token_failure"]) == ("Unauthorized", "revoked")
    # Another token of the same user is not revoked by that jti.
    assert outcome(authz, get(user_token(issuer, "alice", clock.now))) == "Allow"


def test_a_revoked_token_never_seen_is_refused_at_once(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now)
    assert revoke("--jti", claims_of(token)["jti"]) == 0
    assert outcome(authz, get(token)) == "401"
    assert outcome(authz, get(token, EMPLOYEES)) == "401"


def test_a_cached_allow_decision_is_no_longer_served_after_revocation(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """The token-level batch (GET /employees) is cached per caller content: a user's next token
    is served from it. Revoking the user's tokens stops that within the TTL."""
    first = user_token(issuer, "alice", clock.now - 10)
    assert outcome(authz, get(first, EMPLOYEES)) == "Allow"
    second = user_token(issuer, "alice", clock.now - 5)
    assert outcome(authz, get(second, EMPLOYEES)) == "Allow"
    assert last_cache(authz) == "token"  # a decision made for another token, served from cache
    assert revoke("--sub", "alice", "--before", str(int(clock.now))) == 0
    clock.advance(TTL)
    for token in (first, second):
        assert outcome(authz, get(token, EMPLOYEES)) == "401"
        assert outcome(authz, get(token)) == "401"


def test_origin_jti_revokes_the_access_and_id_tokens_of_the_family(
    env: dict[str, str], table: str, moto_server: str, issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = Authorizer.from_env(
        with_table(env, table, moto_server, AUTH_TOKEN_USE="any"), clock=clock
    )
    family = {"origin_jti": str(uuid.uuid4())}
    access = user_token(issuer, "alice", clock.now, extra=family)
    id_token = user_token(issuer, "alice", clock.now, token_use="id", extra=family)
    other = user_token(issuer, "alice", clock.now)  # another sign-in: another family
    for token in (access, id_token, other):
        assert outcome(authz, get(token)) != "401"
    assert revoke("--origin-jti", family["origin_jti"]) == 0
    clock.advance(TTL)
    assert outcome(authz, get(access)) == "401"
    assert outcome(authz, get(id_token)) == "401"
    assert outcome(authz, get(other)) == "Allow"


def test_sub_revokes_the_tokens_issued_before_not_after(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    before = int(clock.now)
    older = user_token(issuer, "alice", before - 60)
    newer = user_token(issuer, "alice", before)  # iat == revoked_before: not before it
    hank = user_token(issuer, "hank", before - 60)
    assert revoke("--sub", "alice", "--before", str(before)) == 0
    assert outcome(authz, get(older)) == "401"
    assert outcome(authz, get(newer)) == "Allow"
    assert outcome(authz, get(hank)) != "401"


def test_one_table_read_per_fresh_token_none_for_a_cached_one(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    revocations = authz.revocations
    assert revocations is not None
    token = user_token(issuer, "alice", clock.now)
    for _ in range(3):
        assert outcome(authz, get(token)) == "Allow"
    assert revocations.lookups == 1  # jti, origin_jti and sub in one BatchGetItem
    assert outcome(authz, get(user_token(issuer, "alice", clock.now))) == "Allow"
    assert revocations.lookups == 2  # a new token: its jti and origin_jti; sub is cached
    clock.advance(TTL)
    assert outcome(authz, get(token)) == "Allow"
    assert revocations.lookups == 3  # the TTL passed: asked again


def test_the_backend_api_and_the_middleware_honour_revocations(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now)
    employee = {"type": "Corp::Employee", "id": "emp-001"}
    assert authz.authorize_token(token, READ, employee).allowed
    assert identify(authz, f"Bearer {token}").principal["id"] == "alice"
    assert revoke("--jti", claims_of(token)["jti"]) == 0
    clock.advance(TTL)
    with pytest.raises(InvalidToken) as raised:
        authz.authorize_token(token, READ, employee)
    assert raised.value.reason == "revoked" and status_of(raised.value) == 401
    with pytest.raises(InvalidToken, match="revoked"):
        identify(authz, f"Bearer {token}")


# --- faults: fail closed (500), or served with REVOCATION_FAIL_OPEN ------------------------------


class FailingDynamo:
    """A loopback endpoint that fails as DynamoDB does: ``mode`` throttled / denied (its JSON
    error), or silent (accepts, never answers)."""

    CODES: ClassVar[dict[str, str]] = {"throttled": "ProvisionedThroughputExceededException",
                                       "denied": "AccessDeniedException"}  # fmt: skip

    def __init__(self) -> None:
        self.mode = "throttled"
        self.calls = 0
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server.calls += 1
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if server.mode == "silent":
                    server.release.wait(10)
                    return
                code = FailingDynamo.CODES[server.mode]
                body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                                   "message": "no"}).encode()  # fmt: skip
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def failing() -> Iterator[FailingDynamo]:
    server = FailingDynamo()
    yield server
    server.close()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def faulty_authz(
    env: dict[str, str], clock: FakeClock, endpoint: str, fail_open: bool = False
) -> Authorizer:
    return Authorizer.from_env(
        {**env, "REVOCATION_TABLE": "revocations", "AWS_REGION": REGION,
         "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
         "REVOCATION_FAIL_OPEN": "true" if fail_open else "false"},
        clock=clock,
    )  # fmt: skip


@pytest.mark.parametrize(("mode", "reason"), [("throttled", "throttled"), ("denied", "access_denied"),
                                              ("unreachable", "unreachable")])  # fmt: skip
def test_an_unreadable_table_fails_closed_with_a_500(
    env: dict[str, str],
    issuer: LocalIssuer,
    clock: FakeClock,
    failing: FailingDynamo,
    mode: str,
    reason: str,
) -> None:
    failing.mode = mode
    endpoint = closed_port_url() if mode == "unreachable" else failing.url
    authz = faulty_authz(env, clock, endpoint)
    with pytest.raises(RevocationUnavailable) as raised:
        authz.handle(get(user_token(issuer, "alice", clock.now)))
    assert raised.value.reason == reason
    assert isinstance(raised.value, DependencyError) and status_of(raised.value) == 500


@pytest.mark.parametrize("mode", ["throttled", "denied", "unreachable"])
def test_fail_open_serves_logs_and_counts(
    env: dict[str, str],
    issuer: LocalIssuer,
    clock: FakeClock,
    failing: FailingDynamo,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    failing.mode = mode
    endpoint = closed_port_url() if mode == "unreachable" else failing.url
    authz = faulty_authz(env, clock, endpoint, fail_open=True)
    token = user_token(issuer, "alice", clock.now)
    with caplog.at_level(logging.WARNING, logger="authorizer.identity.revocation"):
        assert outcome(authz, get(token)) == "Allow"
        assert outcome(authz, get(token)) == "Allow"
    assert authz.revocations is not None and authz.revocations.unchecked == 2  # not cached
    # The revocation list's own records: boto3 may log too (its credentials found, at INFO, on
    # the process's first client), depending on which tests ran before in this process.
    mine = [r for r in caplog.records if r.name == "authorizer.identity.revocation"]
    assert [r.levelname for r in mine] == ["WARNING", "WARNING"]
    assert "REVOCATION_FAIL_OPEN" in mine[0].getMessage()


def test_a_read_timeout_fails_closed_and_open(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock, failing: FailingDynamo
) -> None:
    """An endpoint that never answers, with a short read timeout (the authorizer's own client
    waits 1 s per attempt, twice)."""
    failing.mode = "silent"
    client = boto3.client(
        "dynamodb", region_name=REGION, endpoint_url=failing.url,
        config=Config(connect_timeout=0.2, read_timeout=0.2, retries={"total_max_attempts": 1}),
    )  # fmt: skip
    token = user_token(issuer, "alice", clock.now)
    for fail_open in (False, True):
        authz = Authorizer.from_env(env, clock=clock)
        authz.revocations = revocation_list(
            RevocationSettings("revocations", fail_open=fail_open), {}, clock, client=client
        )
        if fail_open:
            assert outcome(authz, get(token)) == "Allow"
        else:
            with pytest.raises(RevocationUnavailable, match="timeout"):
                authz.handle(get(token))


def test_unprocessed_keys_are_retried_then_fail_closed(table: str, moto_server: str) -> None:
    """BatchGetItem's own throttling: keys left unprocessed are asked again, a few times."""

    class Unprocessing:
        def __init__(self, real: Any, times: int) -> None:
            self.real, self.times = real, times

        def batch_get_item(self, **kwargs: Any) -> dict[str, Any]:
            if self.times:
                self.times -= 1
                return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}
            return dict(self.real.batch_get_item(**kwargs))

        def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("never written")

    real = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server)
    assert revoke("--jti", "j1") == 0
    sleeps: list[float] = []
    found = DynamoRevocationLookup(table, Unprocessing(real, 2), sleeps.append).fetch(["jti#j1"])
    assert found == {"jti#j1": math.inf} and len(sleeps) == 2
    with pytest.raises(RevocationUnavailable, match="throttled"):
        DynamoRevocationLookup(table, Unprocessing(real, 99), sleeps.append).fetch(["jti#j1"])


# --- the CLI --------------------------------------------------------------------------------


def item(moto_server: str, table: str, key: str) -> dict[str, Any] | None:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server)
    found = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
    return found.get("Item")


def test_the_cli_writes_each_kind_of_item_with_its_expiry(
    table: str, moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert revoke("--jti", "j1", "--expires", "1795003600") == 0
    assert item(moto_server, table, "jti#j1") == {
        "pk": {"S": "jti#j1"}, "expires_at": {"N": "1795003600"}}  # fmt: skip
    assert f"revoked jti#j1 in {table}" in capsys.readouterr().out
    started = int(time.time())
    assert revoke("--origin-jti", "o1", "--table", table) == 0
    family = item(moto_server, table, "origin_jti#o1")
    assert family is not None
    assert started + 86_400 <= int(family["expires_at"]["N"]) <= int(time.time()) + 86_400
    assert revoke("--sub", "alice") == 0
    user = item(moto_server, table, "sub#alice")
    assert user is not None
    before = int(user["revoked_before"]["N"])
    # The end of the second: a token issued earlier in it (iat == now rounded down) is revoked.
    assert started + 1 <= before <= int(time.time()) + 1
    assert int(user["expires_at"]["N"]) == before + 86_400
    assert revoke("--sub", "bob", "--before", "1795000000", "--expires", "1795090000") == 0
    assert item(moto_server, table, "sub#bob") == {
        "pk": {"S": "sub#bob"}, "revoked_before": {"N": "1795000000"},
        "expires_at": {"N": "1795090000"}}  # fmt: skip


def test_the_cli_never_moves_a_users_revocation_back(
    table: str, moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert revoke("--sub", "alice", "--before", "2000") == 0
    assert revoke("--sub", "alice", "--before", "1000") == 0
    assert "already stands" in capsys.readouterr().out
    user = item(moto_server, table, "sub#alice")
    assert user is not None and user["revoked_before"] == {"N": "2000"}
    assert revoke("--sub", "alice", "--before", "3000") == 0
    user = item(moto_server, table, "sub#alice")
    assert user is not None and user["revoked_before"] == {"N": "3000"}


@pytest.mark.parametrize(
    "args",
    [
        ["--jti", "j1", "--before", "1000"],  # --before is for --sub
        ["--jti", ""],
        ["--sub", "alice", "--expires", "-1"],
    ],
)
def test_the_cli_refuses_bad_arguments(
    table: str, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert revoke(*args) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_the_cli_needs_a_table_and_reports_failures(
    monkeypatch: pytest.MonkeyPatch, failing: FailingDynamo, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REVOCATION_TABLE", raising=False)
    assert revoke("--jti", "j1") == 1
    assert "REVOCATION_TABLE" in capsys.readouterr().err
    failing.mode = "denied"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", failing.url)
    assert revoke("--jti", "j1", "--table", "revocations") == 1
    assert "access_denied" in capsys.readouterr().err


# --- the list itself --------------------------------------------------------------------------


class MemoryLookup:
    def __init__(self, items: dict[str, float] | None = None) -> None:
        self.items = dict(items or {})
        self.asked: list[list[str]] = []

    def fetch(self, keys: Sequence[str]) -> dict[str, float]:
        self.asked.append(list(keys))
        return {k: self.items[k] for k in keys if k in self.items}


def test_token_keys_are_what_the_cli_writes_and_unkeyable_ids_are_refused() -> None:
    """A numeric jti was left out, so `revoke --jti 90210` never reached the token."""
    claims = {"jti": "a", "origin_jti": "b", "sub": "c#d"}
    assert token_keys(claims) == ["jti#a", "origin_jti#b", "sub#c#d"]
    assert token_keys({"jti": 90210, "origin_jti": "", "sub": "s"}) == ["jti#90210", "sub#s"]
    for odd in (1.5, True, ["a"], {"a": 1}):
        with pytest.raises(InvalidToken, match="jti is neither") as refused:
            token_keys({"jti": odd, "sub": "s"})
        assert refused.value.reason == "bad_claim"


def test_a_key_is_asked_again_only_after_the_ttl(clock: FakeClock) -> None:
    lookup = MemoryLookup()
    revocations = RevocationList(lookup, cache_ttl=10, clock=clock)
    claims = {"jti": "a", "sub": "s", "iat": NOW}
    revocations.check(claims)
    revocations.check({"jti": "b", "sub": "s", "iat": NOW})
    assert lookup.asked == [["jti#a", "sub#s"], ["jti#b"]]
    lookup.items["sub#s"] = NOW + 1
    clock.advance(9.9)
    revocations.check(claims)
    clock.advance(0.1)
    with pytest.raises(InvalidToken, match="revoked by its sub"):
        revocations.check(claims)
    with pytest.raises(InvalidToken):  # a revoked answer is cached too
        revocations.check(claims)
    assert len(lookup.asked) == 3


class FailingLookup(MemoryLookup):
    """A table that answers until it is made unreadable."""

    down = False

    def fetch(self, keys: Sequence[str]) -> dict[str, float]:
        if self.down:
            raise RevocationUnavailable("unreadable", "the test made it so")
        return super().fetch(keys)


@pytest.mark.parametrize("fail_open", [False, True])
def test_a_revocation_already_cached_refuses_while_the_table_is_down(
    clock: FakeClock, fail_open: bool
) -> None:
    """dave's user revocation was read and cached; the table then went down. His next token
    (a new jti, not cached) was served with REVOCATION_FAIL_OPEN, and a 500 without: the cache
    already said 401."""
    lookup = FailingLookup({"sub#dave": NOW + 1})
    revocations = RevocationList(lookup, cache_ttl=30, clock=clock, fail_open=fail_open)
    with pytest.raises(InvalidToken, match="revoked by its sub"):
        revocations.check({"jti": "j1", "sub": "dave", "iat": NOW})
    lookup.down = True
    with pytest.raises(InvalidToken, match="revoked by its sub") as refused:
        revocations.check({"jti": "j2", "sub": "dave", "iat": NOW})
    assert refused.value.reason == "revoked"
    # Another user's token: the table is asked, and it is down.
    if fail_open:
        revocations.check({"jti": "k1", "sub": "erin", "iat": NOW})
        assert revocations.unchecked == 1
    else:
        with pytest.raises(RevocationUnavailable):
            revocations.check({"jti": "k1", "sub": "erin", "iat": NOW})


def test_a_ttl_of_zero_asks_every_time(clock: FakeClock) -> None:
    lookup = MemoryLookup()
    revocations = RevocationList(lookup, cache_ttl=0, clock=clock)
    for _ in range(3):
        revocations.check({"jti": "a", "iat": NOW})
    assert len(lookup.asked) == 3


def test_a_user_item_without_a_readable_revoked_before_revokes_every_token(
    table: str, moto_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server)
    client.put_item(TableName=table, Item={"pk": {"S": "sub#a"}})
    client.put_item(TableName=table, Item={"pk": {"S": "sub#b"}, "revoked_before": {"S": "x"}})
    found = DynamoRevocationLookup(table, client).fetch(["sub#a", "sub#b", "sub#c"])
    assert found == {"sub#a": math.inf, "sub#b": math.inf}
    assert "not a number" in caplog.text


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RevocationSettings.from_env({}) == RevocationSettings(None, 30.0, False)
    assert revocation_list(RevocationSettings.from_env({})) is None
    assert RevocationSettings.from_env(
        {"REVOCATION_TABLE": " t ", "REVOCATION_CACHE_TTL": "5", "REVOCATION_FAIL_OPEN": "yes"}
    ) == RevocationSettings("t", 5.0, True)
    for bad in ({"REVOCATION_CACHE_TTL": "soon"}, {"REVOCATION_FAIL_OPEN": "maybe"}):
        with pytest.raises(ConfigError):
            RevocationSettings.from_env(bad)


def test_without_a_table_the_authorizer_never_loads_boto3(
    issuer: LocalIssuer, jwks_server: Any
) -> None:
    from tests.conftest import sample_env  # noqa: PLC0415

    env = sample_env(issuer, jwks_server.url)
    probe = (
        "import json, sys\n"
        "from authorizer.pdp import Authorizer\n"
        f"authz = Authorizer.from_env({env!r})\n"
        "print(json.dumps([authz.revocations is None, 'boto3' in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, False]
