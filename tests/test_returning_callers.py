"""A user's next token (a refresh: new `iat`, `exp`, `jti`, the same claims otherwise) reuses
what the authorizer made of the last one's claims (entities, slices, token records, digests),
unless a policy can read a claim that differs: then nothing is shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.cedar.schema import cedarschema_to_json, model_from_json
from authorizer.identity.entities import PER_TOKEN_CLAIMS, REGISTERED_CLAIMS, per_token_claims
from authorizer.pdp import Authorizer
from authorizer.stores.ttl_cache import Lru
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.users import split_profile
from tests.conftest import NOW, FakeClock, JwksServer
from tests.helpers import outcome, rest, user_token

EMPLOYEE = ("GET", "/employees/emp-001", "/employees/{employeeId}")
LISTING = ("GET", "/employees", "/employees")

SCHEMA = """
namespace Api {
  type Token = { "auth_time"?: Long, "username"?: String };
  entity Application;
  entity UserGroup;
  entity User in [UserGroup] = { "tenant"?: String };
  action "get /things" appliesTo {
    principal: User, resource: Application, context: { "token": Token }
  };
}
"""
# Recent sign-ins only: a refreshed token of an old sign-in keeps its old auth_time.
POLICY = (
    "permit (principal, action, resource) when {\n"
    "  context.token has auth_time && context.token.auth_time >= 1795000000\n};\n"
)


def test_per_token_claims_are_registered_claims() -> None:
    assert PER_TOKEN_CLAIMS <= REGISTERED_CLAIMS  # never a principal attribute


def test_a_refreshed_token_reuses_the_callers_work(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    first = authz.verify(user_token(issuer, "alice", NOW))
    clock.advance(600)
    second_token = user_token(issuer, "alice", clock.now)
    second = authz.verify(second_token)
    assert second.part is first.part and second.claims_key == first.claims_key
    # ... with the new token's own claims: its expiry bounds what is cached for it.
    assert second.token.claims["exp"] == first.token.claims["exp"] + 600
    assert second.token.claims["jti"] != first.token.claims["jti"]
    assert outcome(authz, rest(second_token, *EMPLOYEE)) == "Allow"
    assert outcome(authz, rest(second_token, *LISTING)) == "Allow"


def test_other_claims_make_another_caller(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    alice = authz.verify(user_token(issuer, "alice", NOW))
    moved = authz.verify(user_token(issuer, "alice", NOW, extra={"department": "finance"}))
    assert moved.part is not alice.part
    assert moved.extra[0]["attrs"]["department"] == "finance"
    fewer = authz.verify(issuer.token("alice", now=NOW))
    assert fewer.extra[0]["parents"] == []


def app(tmp_path: Path, issuer: LocalIssuer, server: JwksServer, schema: str) -> dict[str, str]:
    (tmp_path / "schema.cedarschema").write_text(schema)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.cedar").write_text(POLICY)
    return {"AUTH_ISSUER": issuer.issuer, "AUTH_JWKS_URL": server.url,
            "AUTH_CLIENT_IDS": issuer.client_id, "CEDAR_POLICY_DIR": str(policies),
            "CEDAR_SCHEMA": str(tmp_path / "schema.cedarschema"), "CEDAR_NAMESPACE": "Api",
            "CEDAR_ENTITIES": "none"}  # fmt: skip


def test_a_claim_the_token_type_declares_is_never_shared(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """`auth_time` is declared in context.token: two tokens differing only there are decided
    apart (sharing the first's record would allow the old sign-in)."""
    authz = Authorizer.from_env(app(tmp_path, issuer, jwks_server, SCHEMA), clock=clock)
    assert "auth_time" not in authz._per_token
    recent = issuer.token("u1", now=NOW, extra={"auth_time": int(NOW)})
    old = issuer.token("u1", now=NOW, extra={"auth_time": int(NOW) - 3600})
    things = ("GET", "/things", "/things")
    assert outcome(authz, rest(recent, *things)) == "Allow"
    assert outcome(authz, rest(old, *things)) == "Deny"
    assert authz.verify(old).part is not authz.verify(recent).part


def test_without_the_declaration_the_claim_is_not_read_and_the_work_is_shared(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    schema = SCHEMA.replace('"auth_time"?: Long, ', "")
    env = app(tmp_path, issuer, jwks_server, schema)
    (tmp_path / "policies" / "p.cedar").write_text("permit (principal, action, resource);\n")
    authz = Authorizer.from_env(env, clock=clock)
    one = authz.verify(issuer.token("u1", now=NOW, extra={"auth_time": int(NOW)}))
    two = authz.verify(issuer.token("u1", now=NOW, extra={"auth_time": int(NOW) - 3600}))
    assert two.part is one.part


def test_per_token_claims_follow_the_schema() -> None:
    document = cedarschema_to_json(SCHEMA)
    assert per_token_claims(model_from_json(document)) == PER_TOKEN_CLAIMS - {"auth_time"}
    bare = cedarschema_to_json(SCHEMA.replace('"auth_time"?: Long, ', ""))
    assert per_token_claims(model_from_json(bare)) == PER_TOKEN_CLAIMS
    assert per_token_claims(None) == frozenset()  # no schema: the record holds every claim


# --- reuse changes no decision -----------------------------------------------------------------

ROUTES = [
    ("GET", "/employees", "/employees", {}),
    ("GET", "/employees/emp-001", "/employees/{employeeId}", {}),
    ("GET", "/employees/emp-001/salary", "/employees/{employeeId}/salary", {}),
    ("GET", "/invoices", "/invoices", {}),
    ("POST", "/accounts/acc-001/transfers", "/accounts/{accountId}/transfers",
     {"query": {"amount": "1200"}}),
]  # fmt: skip


def token_of(issuer: LocalIssuer, draw: dict[str, Any], now: float) -> str:
    """A sample user's token with drawn per-token claims and drawn other claims."""
    groups, profile = split_profile(draw["user"])
    claims = issuer.claims(draw["user"], groups=groups[: draw["groups"]], extra=profile, now=now)
    issued = now - draw["age"]
    claims.update(iat=issued, exp=issued + 3600, auth_time=issued - draw["session"],
                  jti=draw["jti"], origin_jti=draw["origin"])  # fmt: skip
    claims.update(draw["extra"])
    return issuer.sign(claims)


draws = st.fixed_dictionaries({
    "user": st.sampled_from(["alice", "hank", "paula", "fiona", "pat", "mallory"]),
    "groups": st.integers(0, 4),
    "age": st.integers(0, 3000),
    "session": st.integers(0, 100_000),
    "jti": st.sampled_from(["j1", "j2", "j3"]),
    "origin": st.sampled_from(["o1", "o2"]),
    "extra": st.dictionaries(
        st.sampled_from(["department", "tenant", "scope"]),
        st.sampled_from(["engineering", "hr", "acme", "globex", "openid employee:read", ""]),
        max_size=2,
    ),
})  # fmt: skip


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(sequence=st.lists(draws, min_size=2, max_size=6))
def test_reusing_callers_changes_no_decision(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock, sequence: list[dict[str, Any]]
) -> None:
    """Tokens of the same and other users, with per-token claims and claims that matter drawn:
    one authorizer (callers and decisions cached) decides each as one that reuses nothing."""
    cached = Authorizer.from_env(env, clock=clock)
    reference = Authorizer.from_env({**env, "DECISION_CACHE_TTL": "0"}, clock=clock)
    reference._callers = Lru(0)  # nothing is ever found
    for draw in sequence:
        token = token_of(issuer, draw, clock.now)
        for method, path, template, kwargs in ROUTES:
            event = rest(token, method, path, template, now_ms=int(clock.now * 1000), **kwargs)
            assert outcome(cached, event) == outcome(reference, event), (draw, path)
