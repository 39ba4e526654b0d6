"""Relationship data changes while tokens live: decisions follow the store within
ENTITY_CACHE_TTL. DynamoDB in moto, an injected clock, no sleeps.

Which source wins (authorizer/stores/store.py):
- principal attributes: the token;
- the principal's groups: with USER_GROUPS_FROM_STORE=true the store's User item when it has
  one, the token otherwise; by default the token;
- the group hierarchy, resource attributes and parents: the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from authorizer.errors import DependencyError
from authorizer.pdp import Authorizer
from authorizer.stores.dynamo_store import DynamoEntityReader, dynamodb_client, write_entities
from authorizer.stores.store import CachingStore
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock
from tests.entity_tables import CORP, REGION, create_table, set_parents, user
from tests.helpers import outcome, rest, user_token

TABLE = "staleness-entities"
TTL = 60.0
G = "Corp::UserGroup"
SALARY = ("GET", "/employees/emp-001/salary", "/employees/{employeeId}/salary")
LIST = ("GET", "/employees", "/employees")
TRANSFER = ("POST", "/accounts/acc-001/transfers", "/accounts/{accountId}/transfers")


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    dynamodb_client.cache_clear()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, TABLE)
        users = [user("paula", "hr-engineering-payroll"), user("hank", "hr-engineering")]
        write_entities(client, TABLE, [*CORP, *users])
        yield client
    dynamodb_client.cache_clear()


def authorizer(env: dict[str, str], clock: FakeClock, groups_from_store: bool) -> Authorizer:
    return Authorizer.from_env(
        {**env, "ENTITY_STORE_TABLE": TABLE, "AWS_REGION": REGION, "ENTITY_CACHE_TTL": str(TTL),
         "USER_GROUPS_FROM_STORE": str(groups_from_store).lower()}, clock=clock,
    )  # fmt: skip


def ask(authz: Authorizer, token: str, route: tuple[str, str, str], **kwargs: Any) -> str:
    return outcome(authz, rest(token, *route, **kwargs))


def test_a_user_removed_from_a_group_loses_access_within_the_ttl(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = authorizer(env, clock, groups_from_store=True)
    token = user_token(issuer, "paula", clock.now)
    assert ask(authz, token, SALARY) == "Allow"
    set_parents(table, TABLE, ("Corp::User", "paula"), [])  # removed from hr-engineering-payroll
    clock.advance(TTL / 2)
    assert ask(authz, token, SALARY) == "Allow"  # the window: cached for at most the TTL
    clock.advance(TTL / 2)
    assert authz.verify(token).token.claims["cognito:groups"] == ["hr-engineering-payroll"]
    assert ask(authz, token, SALARY) == "Deny"  # the token still lists the group
    fresh = user_token(issuer, "paula", clock.now)  # a token minted before the change reached it
    assert ask(authz, fresh, SALARY) == "Deny"


def test_a_token_level_route_follows_the_store_too(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """`get /employees` is decided for every token-level route at once and cached per token:
    that cache lives no longer than the entities it used."""
    authz = authorizer(env, clock, groups_from_store=True)
    token = user_token(issuer, "hank", clock.now)  # hr by nesting, no employee:read permission
    assert ask(authz, token, LIST) == "Allow"
    set_parents(table, TABLE, ("Corp::User", "hank"), [])
    clock.advance(TTL - 1)
    assert ask(authz, token, LIST) == "Allow"
    clock.advance(1)
    assert ask(authz, token, LIST) == "Deny"


def test_without_the_flag_the_token_lists_the_groups(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = authorizer(env, clock, groups_from_store=False)
    token = user_token(issuer, "paula", clock.now)
    set_parents(table, TABLE, ("Corp::User", "paula"), [])
    clock.advance(TTL)
    assert ask(authz, token, SALARY) == "Allow"


def test_the_token_decides_for_a_user_the_store_does_not_hold(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = authorizer(env, clock, groups_from_store=True)
    # Harriet has no item: her token's hr-finance counts.
    harriet = user_token(issuer, "harriet", clock.now)
    assert ask(authz, harriet, ("GET", "/employees/emp-002/salary", SALARY[2])) == "Allow"


def test_a_group_hierarchy_change_is_seen_within_the_ttl(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Nested groups come from the store whoever lists the membership."""
    authz = authorizer(env, clock, groups_from_store=False)
    token = user_token(issuer, "paula", clock.now)
    assert ask(authz, token, SALARY) == "Allow"
    set_parents(table, TABLE, (G, "hr-engineering-payroll"), [])  # no longer in hr-engineering
    clock.advance(TTL)
    assert ask(authz, token, SALARY) == "Deny"
    set_parents(table, TABLE, (G, "hr-engineering-payroll"), [(G, "hr-engineering")])
    clock.advance(TTL)
    assert ask(authz, token, SALARY) == "Allow"


def test_a_resource_attribute_change_is_seen_within_the_ttl(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = authorizer(env, clock, groups_from_store=False)
    token = user_token(issuer, "pat", clock.now)
    query = {"query": {"amount": "10"}}
    assert ask(authz, token, TRANSFER, **query) == "Allow"
    frozen = {"uid": {"type": "Corp::Account", "id": "acc-001"},
              "attrs": {"tenant": "acme", "type": "BUSINESS", "status": "FROZEN"}, "parents": []}  # fmt: skip
    write_entities(table, TABLE, [frozen])
    clock.advance(TTL)
    assert ask(authz, token, TRANSFER, **query) == "Deny"


def test_principal_attributes_come_from_the_token(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """The store's User item says another tenant: the token's tenant is the one used."""
    write_entities(table, TABLE, [user("paula", "hr-engineering-payroll", tenant="globex")])
    authz = authorizer(env, clock, groups_from_store=True)
    assert ask(authz, user_token(issuer, "paula", clock.now), SALARY) == "Allow"


def test_explicit_invalidation_takes_effect_at_once(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = authorizer(env, clock, groups_from_store=True)
    token = user_token(issuer, "paula", clock.now)
    assert ask(authz, token, SALARY) == "Allow"
    set_parents(table, TABLE, ("Corp::User", "paula"), [])
    authz.engine.store.invalidate([{"type": "Corp::User", "id": "paula"}])
    assert ask(authz, token, SALARY) == "Deny"  # cached decisions are keyed by the generation
    set_parents(table, TABLE, ("Corp::User", "paula"), [(G, "hr-engineering-payroll")])
    authz.engine.store.clear()
    assert ask(authz, token, SALARY) == "Allow"


def test_fresh_cached_entities_answer_through_an_outage_until_their_ttl(
    table: Any, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    authz = authorizer(env, clock, groups_from_store=True)
    assert ask(authz, user_token(issuer, "paula", clock.now), SALARY) == "Allow"
    store = authz.engine.store
    assert isinstance(store, CachingStore)
    store.reader = DynamoEntityReader("deleted-table", table)  # every read now fails
    clock.advance(TTL / 2)
    # A new token (no cached decision): every entity it needs is cached and fresh.
    assert ask(authz, user_token(issuer, "paula", clock.now), SALARY) == "Allow"
    clock.advance(TTL / 2)
    with pytest.raises(DependencyError):  # a 500, never a Deny API Gateway would cache
        ask(authz, user_token(issuer, "paula", clock.now), SALARY)
