"""The backend API (authorizer/sdk/api.py through ``Authorizer``): every scenario of the sample
app decided at the data layer, the input forms, the batch forms (one cedarpy call each),
redaction, the transfer button, and failing closed. Real tokens, JWKS over loopback HTTP."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import cedarpy
import pytest

from authorizer import Authorizer, Decision, Unauthorized
from authorizer.cedar.engine import Engine
from authorizer.limits import INCOMPLETE_CLAIM
from authorizer.sdk import api
from authorizer.sdk.api import TRANSFER_PROBE
from authorizer.sdk.middleware import request_record
from authorizer.stores.entity_graph import StoredEntity, UidKey, stored_entity
from authorizer.stores.store import CachingStore
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import ROOT, FakeClock
from tests.helpers import user_token
from tests.test_sample_app import CASES, each_scenario

ENTITIES: list[dict[str, Any]] = json.loads((ROOT / "entities" / "corp.json").read_text())
BY_ID = {e["uid"]["id"]: e for e in ENTITIES}
TYPES = {"employeeId": "Corp::Employee", "invoiceId": "Corp::Invoice", "accountId": "Corp::Account"}
APP = {"type": "Corp::Application", "id": "Corp"}
READ = "get /employees/{employeeId}"
TRANSFER = "post /accounts/{accountId}/transfers"


def emp(ident: str) -> dict[str, str]:
    return {"type": "Corp::Employee", "id": ident}


def account(ident: str) -> dict[str, str]:
    return {"type": "Corp::Account", "id": ident}


def backend_request(
    method: str, path: str, template: str, kwargs: dict[str, Any], now: float
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(action id, resource uid, context) of a scenario, as a backend would ask it."""
    names = re.findall(r"\{(\w+)\}", template)
    pattern = re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(template))
    match = re.fullmatch(pattern, path)
    assert match is not None
    params = dict(zip(names, match.groups(), strict=True))
    resource = {"type": TYPES[names[-1]], "id": params[names[-1]]} if names else APP
    query = kwargs.get("query", {})
    seconds = kwargs.get("now_ms", now * 1000) / 1000
    record = request_record(method, path, template, params, query, kwargs.get("source_ip"), seconds)
    context: dict[str, Any] = {"request": record}
    if "amount" in query:
        context["amount"] = query["amount"]
    return f"{method.lower()} {template}", resource, context


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of every cedarpy batch the backend module makes."""
    seen: list[int] = []
    real = cedarpy.is_authorized_batch

    def spy(requests: list[Any], *args: Any) -> Any:
        seen.append(len(requests))
        return real(requests, *args)

    monkeypatch.setattr(cedarpy, "is_authorized_batch", spy)
    yield seen


# --- every scenario, at the data layer -----------------------------------------------------------


@each_scenario
def test_scenario_through_the_backend_api(
    authz: Authorizer,
    issuer: LocalIssuer,
    clock: FakeClock,
    user: str,
    method: str,
    path: str,
    template: str,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    token = user_token(issuer, user, clock.now)
    action, resource, context = backend_request(method, path, template, kwargs, clock.now)
    allowed = expected == "Allow"
    # The token, verified like the gateway does.
    assert authz.authorize_token(token, action, resource, context).allowed is allowed
    # A principal UID with its claims; the resource as Cedar's text form.
    claims = authz.verify(token).token.claims
    text = f"{resource['type']}::{json.dumps(resource['id'])}"
    assert authz.is_authorized({"type": "Corp::User", "id": user}, action, text, context,
                               claims=claims).allowed is allowed  # fmt: skip
    # The batch form.
    assert (authz.allowed_actions(token, resource, [action], context) == [action]) is allowed
    # The record the backend loaded itself (the store has its own copy: the backend's wins).
    if resource["id"] in BY_ID:
        loaded = BY_ID[resource["id"]]
        decision = authz.authorize_token(token, action, None, context, resource_entity=loaded)
        assert decision.allowed is allowed, decision


def test_the_allowed_scenarios_name_their_policies(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "hank", clock.now)
    decision = authz.authorize_token(token, "view_salary", emp("emp-001"))
    assert decision == Decision(True, "Allow", ("salary-view",), ())
    denied = authz.authorize_token(token, READ, emp("emp-101"))
    assert denied.determining == ("tenant-isolation",) and not denied.allowed


# --- input forms -----------------------------------------------------------------------------


def test_uid_forms_decide_alike(authz: Authorizer, issuer: LocalIssuer, clock: FakeClock) -> None:
    token = user_token(issuer, "alice", clock.now)
    forms: list[Any] = [
        emp("emp-001"),
        {"__entity": emp("emp-001")},
        'Corp::Employee::"emp-001"',
        BY_ID["emp-001"],
    ]
    for form in forms:
        assert authz.is_authorized(token, READ, form).allowed, form
    actions: list[Any] = [READ, 'Corp::Action::"get /employees/{employeeId}"',
                          {"type": "Corp::Action", "id": READ}]  # fmt: skip
    for action in actions:
        assert authz.is_authorized(token, action, emp("emp-001")).allowed, action


@pytest.mark.parametrize(
    "text",
    [
        'Corp::Employee::"emp-001" || true',
        'Corp::Employee::"emp-001", action, resource) when { true }; //',
        'Corp::Employee::"emp-001" /* */',
        "Corp::Employee::emp-001",
        'Corp::Employee::"emp-001',
        "",
    ],
)
def test_a_uid_string_cannot_smuggle_syntax(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, text: str
) -> None:
    token = user_token(issuer, "alice", clock.now)
    with pytest.raises(ValueError):
        authz.is_authorized(token, READ, text)


def test_a_quote_in_an_id_is_data(authz: Authorizer, issuer: LocalIssuer, clock: FakeClock) -> None:
    token = user_token(issuer, "alice", clock.now)
    tricky = emp('emp-001" || principal == principal || "')
    assert not authz.is_authorized(token, READ, tricky).allowed
    text = "Corp::Employee::" + json.dumps(tricky["id"])
    assert not authz.is_authorized(token, READ, text).allowed


def test_principal_forms(authz: Authorizer, issuer: LocalIssuer, clock: FakeClock) -> None:
    token = user_token(issuer, "hank", clock.now)
    claims = authz.verify(token).token.claims
    entity = authz.mapping.principal_entities(claims)[0]
    principals: list[Any] = [token, authz.verify(token), entity, api.subject(authz, token)]
    for principal in principals:
        assert authz.is_authorized(principal, "view_salary", emp("emp-001")).allowed
    assert authz.is_authorized('Corp::User::"hank"', "view_salary", emp("emp-001"),
                               claims=claims).allowed  # fmt: skip
    # A UID alone carries no attributes: tenant-isolation denies.
    assert not authz.is_authorized('Corp::User::"hank"', "view_salary", emp("emp-001")).allowed
    with pytest.raises(ValueError, match="claims"):
        authz.is_authorized('Corp::User::"alice"', "view_salary", emp("emp-001"), claims=claims)
    with pytest.raises(ValueError):
        authz.is_authorized(entity, "view_salary", emp("emp-001"), claims=claims)
    # A token and someone else's claims: the token's were used, the others picked the bundle
    # (another tenant's, with bundles per tenant). Refused, whatever the claims.
    for principal in (token, authz.verify(token), api.subject(authz, token)):
        with pytest.raises(ValueError, match="not both"):
            authz.is_authorized(principal, "view_salary", emp("emp-001"), claims=claims)
    # Claims the pre-token hook marked incomplete, as a token carrying them is refused.
    marked = {**claims, INCOMPLETE_CLAIM: True}
    with pytest.raises(ValueError, match="incomplete"):
        authz.is_authorized('Corp::User::"hank"', "view_salary", emp("emp-001"), claims=marked)


def test_an_entity_the_backend_loaded_is_read_against_the_schema(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Cedar, given the schema, decides nothing on an entity that does not fit it (a string
    where a Long is declared, an undeclared attribute, a parent of a type not allowed): the
    library decided on it as written, and a forbid reading the attribute did not hold."""
    token = user_token(issuer, "hank", clock.now)
    good = copy.deepcopy(BY_ID["emp-001"])
    assert authz.authorize_token(token, "view_salary", None, resource_entity=good).allowed
    undeclared = copy.deepcopy(good)
    undeclared["attrs"]["nosuch"] = 1
    wrong_parent = copy.deepcopy(good)
    wrong_parent["parents"] = [{"type": "Corp::UserGroup", "id": "g"}]
    for bad in (undeclared, wrong_parent):
        # Denied, loudly, as any entity the request cannot be built with.
        decision = authz.authorize_token(token, "view_salary", None, resource_entity=bad)
        assert not decision.allowed and "does not fit the schema" in decision.errors[0]


def test_authorize_token_refuses_bad_tokens(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    expired = user_token(issuer, "alice", clock.now - 7200)
    for token in ["not-a-jwt", expired, user_token(issuer, "alice", clock.now)[:-4] + "AAAA",
                  'Corp::User::"alice"']:  # fmt: skip
        with pytest.raises(Unauthorized):
            authz.authorize_token(token, READ, emp("emp-001"))


def test_resource_and_resource_entity_must_agree(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now)
    with pytest.raises(ValueError, match="different"):
        authz.authorize_token(token, READ, emp("emp-002"), resource_entity=BY_ID["emp-001"])
    with pytest.raises(ValueError):
        authz.authorize_token(token, READ, None)
    with pytest.raises(ValueError):
        authz.authorize_token(token, READ, None, resource_entity=emp("emp-001"))
    ok = authz.authorize_token(token, READ, emp("emp-001"), resource_entity=BY_ID["emp-001"])
    assert ok.allowed


def test_the_record_the_backend_loaded_decides_not_the_store(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A bug in one layer (the gateway looked up emp-001 in acme, the database row is globex's)
    cannot leak: the data layer decides with the row it actually loaded."""
    row = copy.deepcopy(BY_ID["emp-001"])
    row["attrs"]["tenant"] = "globex"
    alice = user_token(issuer, "alice", clock.now)
    mallory = user_token(issuer, "mallory", clock.now)
    assert authz.authorize_token(alice, READ, emp("emp-001")).allowed  # the store says acme
    assert not authz.authorize_token(alice, READ, None, resource_entity=row).allowed
    assert authz.authorize_token(mallory, READ, None, resource_entity=row).allowed
    # A record the store does not hold at all.
    new = {"uid": emp("emp-777"), "parents": [],
           "attrs": {"tenant": "acme", "division": "engineering",
                     "group": {"__entity": {"type": "Corp::UserGroup", "id": "engineering"}}}}  # fmt: skip
    hank = user_token(issuer, "hank", clock.now)
    assert authz.authorize_token(hank, "view_salary", None, resource_entity=new).allowed
    assert not authz.authorize_token(mallory, "view_salary", None, resource_entity=new).allowed


# --- batch forms ------------------------------------------------------------------------------


def test_allowed_actions_is_one_call(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, calls: list[int]
) -> None:
    assert authz.engine.model is not None
    actions = [a.id for a in authz.engine.model.actions]
    hank, alice = (user_token(issuer, u, clock.now) for u in ("hank", "alice"))
    decided = authz.decide_actions(hank, emp("emp-001"), actions)
    # One call, for the actions that apply to an Employee; the others are denied unasked.
    employee_actions = [
        a for a in authz.engine.model.actions if "Corp::Employee" in a.resource_types
    ]
    assert calls == [len(employee_actions)]
    assert decided["get /employees"].errors and not decided["get /employees"].allowed
    shown = [a for a, d in decided.items() if d.allowed]
    assert set(shown) == {
        READ, "view_salary", "view_employmentInfo",
        "get /employees/{employeeId}/salary", "get /employees/{employeeId}/employment-info",
    }  # fmt: skip
    assert authz.allowed_actions(alice, emp("emp-001"), ["view_salary", "view_employmentInfo"]) == [
        "view_employmentInfo"
    ]
    decided = authz.decide_actions(alice, emp("emp-001"), [{"type": "Corp::Action", "id": READ}])
    assert list(decided) == [READ] and decided[READ].allowed
    assert not authz.decide_actions(alice, emp("emp-001"), ["delete_everything"])[
        "delete_everything"
    ].allowed  # not in the schema: denied, whatever a broad permit says


def test_allowed_resources_is_one_call(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, calls: list[int]
) -> None:
    token = user_token(issuer, "alice", clock.now)
    resources: list[Any] = [emp("emp-001"), 'Corp::Employee::"emp-002"', BY_ID["emp-101"],
                            emp("emp-999")]  # fmt: skip
    assert authz.allowed_resources(token, READ, resources) == resources[:2]
    assert calls == [4]
    decisions = authz.decide_resources(token, "view_employmentInfo", resources)
    assert [d.allowed for d in decisions] == [True, False, False, False]
    assert authz.allowed_resources(token, READ, []) == []


# --- redaction --------------------------------------------------------------------------------


def record(ident: str) -> dict[str, Any]:
    return {"id": ident, "name": "x", "employmentInfo": {"grade": 3}, "salary": {"annual": 1}}


@pytest.mark.parametrize(
    ("user", "ident", "kept"),
    [
        ("hank", "emp-001", {"employmentInfo", "salary"}),  # the division's HR subgroup
        ("paula", "emp-001", {"employmentInfo", "salary"}),  # nested in hr-engineering
        ("alice", "emp-001", {"employmentInfo"}),  # own group
        ("auditor-0001", "emp-001", {"employmentInfo"}),  # explicit grant on the record
        ("auditor-0001", "emp-002", set()),  # the grant is per record
        ("harriet", "emp-001", set()),  # another division's HR
        ("harriet", "emp-002", {"employmentInfo", "salary"}),
        ("fiona", "emp-001", set()),
        ("mallory", "emp-001", set()),  # another tenant, whatever the groups
    ],
)
def test_redact_by_convention(
    authz: Authorizer,
    issuer: LocalIssuer,
    clock: FakeClock,
    user: str,
    ident: str,
    kept: set[str],
) -> None:
    token = user_token(issuer, user, clock.now)
    original = record(ident)
    for resource in [emp(ident), BY_ID[ident]]:
        out = authz.redact(original, token, resource)
        assert set(out) == {"id", "name"} | kept
    assert original == record(ident)  # never changed in place


def test_redact_a_document_set_in_one_call(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, calls: list[int]
) -> None:
    token = user_token(issuer, "alice", clock.now)
    docs = [record("emp-001"), record("emp-002"), {"id": "emp-101"}]
    out = authz.redact(docs, token, [emp(d["id"]) for d in docs])
    assert calls == [4]  # two guarded fields in each of the two documents that have them
    assert [set(d) for d in out] == [{"id", "name", "employmentInfo"}, {"id", "name"}, {"id"}]
    by_function = authz.redact(docs, token, lambda d: emp(d["id"]))
    assert by_function == out
    assert authz.redact([], token, []) == []


def test_redact_nested_paths_lists_and_explicit_maps(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now)
    doc = {
        "id": "emp-001",
        "hr": {"pay": {"salary": 1, "bonus": 2}, "info": {"grade": 3}},
        "history": [{"salary": 1, "year": 2020}, {"year": 2021}, "text"],
    }
    explicit = {"hr.pay.salary": "view_salary", "hr.info": 'Corp::Action::"view_employmentInfo"',
                "history.salary": "view_salary"}  # fmt: skip
    out = authz.redact(doc, token, emp("emp-001"), explicit)
    assert out == {
        "id": "emp-001",
        "hr": {"pay": {"bonus": 2}, "info": {"grade": 3}},
        "history": [{"year": 2020}, {"year": 2021}, "text"],
    }
    # A list of paths follows the view_<path> convention: view_salary guards `salary`.
    assert authz.redact(record("emp-001"), token, emp("emp-001"), ["salary"]) == {
        "id": "emp-001", "name": "x", "employmentInfo": {"grade": 3},
    }  # fmt: skip
    # An action no policy permits (or the schema does not declare) removes its field.
    assert "name" not in authz.redact(
        record("emp-001"), token, emp("emp-001"), {"name": "view_name"}
    )


def test_redact_walks_tuples_and_refuses_objects_it_cannot_look_inside(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A tuple was passed through as it was, salary and all (JSON serialises it as a list)."""
    token = user_token(issuer, "alice", clock.now)
    doc = {"id": "emp-001", "history": ({"salary": 1, "year": 2020}, ({"salary": 2},), 7)}
    out = authz.redact(doc, token, emp("emp-001"), {"history.salary": "view_salary"})
    assert out == {"id": "emp-001", "history": ({"year": 2020}, ({},), 7)}

    class Pay:
        salary = 1

    with pytest.raises(ValueError, match="'salary' inside a Pay"):
        authz.redact({"history": [Pay()]}, token, emp("emp-001"), {"history.salary": "view_salary"})


def test_redact_refuses_malformed_arguments(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = user_token(issuer, "alice", clock.now)
    with pytest.raises(ValueError):
        authz.redact([record("emp-001")], token, [emp("emp-001"), emp("emp-002")])
    with pytest.raises(ValueError):
        authz.redact([record("emp-001")], token, emp("emp-001"))
    with pytest.raises(ValueError):
        authz.redact(record("emp-001"), token, [emp("emp-001")])
    with pytest.raises(ValueError):
        authz.redact(record("emp-001"), token, emp("emp-001"), {"a..b": "view_salary"})
    with pytest.raises(ValueError):
        authz.redact(record("emp-001"), token, emp("emp-001"), "salary")


# --- the transfer rule and its button ---------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "ident", "context", "shown"),
    [
        ("pat", "acc-001", TRANSFER_PROBE, True),  # may transfer something: show the button
        ("pat", "acc-001", {"amount": 1200}, True),  # the amount the form would send
        ("pat", "acc-001", {"amount": "4999"}, True),  # coerced to a Long, as at the gateway
        ("pat", "acc-001", {"amount": 5000}, False),  # not under the daily limit
        ("pat", "acc-001", {}, False),  # no amount, no transfer (the policy reads it)
        ("pat", "acc-002", TRANSFER_PROBE, False),  # PERSONAL
        ("pat", "acc-003", TRANSFER_PROBE, False),  # FROZEN
        ("eddie", "acc-001", TRANSFER_PROBE, False),  # not a payment initiator
        ("mallory", "acc-001", TRANSFER_PROBE, False),  # another tenant
        ("mallory", "acc-101", TRANSFER_PROBE, True),
    ],
)
def test_the_transfer_button(
    authz: Authorizer,
    issuer: LocalIssuer,
    clock: FakeClock,
    user: str,
    ident: str,
    context: dict[str, Any],
    shown: bool,
) -> None:
    token = user_token(issuer, user, clock.now)
    actions = [TRANSFER, "get /employees"]
    allowed = authz.allowed_actions(token, account(ident), actions, context)
    assert (TRANSFER in allowed) is shown
    # The data layer enforces the same rule with the amount it will transfer.
    assert authz.authorize_token(token, TRANSFER, account(ident), context).allowed is shown


# --- fail closed ------------------------------------------------------------------------------


def test_an_engine_failure_denies_and_redacts_everything(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = user_token(issuer, "hank", clock.now)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(cedarpy, "is_authorized_batch", broken)
    decision = authz.authorize_token(token, "view_salary", emp("emp-001"))
    assert not decision.allowed and decision.errors
    assert authz.allowed_actions(token, emp("emp-001"), ["view_salary", READ]) == []
    assert authz.redact(record("emp-001"), token, emp("emp-001")) == {"id": "emp-001", "name": "x"}


def test_a_short_answer_from_cedar_denies(
    authz: Authorizer, issuer: LocalIssuer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = user_token(issuer, "hank", clock.now)
    real = cedarpy.is_authorized_batch
    monkeypatch.setattr(cedarpy, "is_authorized_batch",
                        lambda requests, *a: real(requests[:1], *a))  # fmt: skip
    assert authz.allowed_actions(token, emp("emp-001"), ["view_salary", READ]) == []


def test_bad_entities_deny(authz: Authorizer, issuer: LocalIssuer, clock: FakeClock) -> None:
    token = user_token(issuer, "hank", clock.now)
    one, other = copy.deepcopy(BY_ID["emp-001"]), copy.deepcopy(BY_ID["emp-001"])
    other["attrs"]["division"] = "finance"
    # Two different versions of one record in one batch: nothing is decided on either.
    assert authz.decide_resources(token, "view_salary", [one, other]) == [
        Decision.failed("request error: two different entities for "
                        "Corp::Employee::'emp-001'")] * 2  # fmt: skip
    # A record of the wrong shape for its type: the policies cannot read it, deny.
    odd = {"uid": emp("emp-555"), "attrs": {"tenant": 7, "group": "engineering"}, "parents": []}
    assert not authz.authorize_token(token, "view_salary", None, resource_entity=odd).allowed
    with pytest.raises(ValueError):
        authz.authorize_token(token, "view_salary", None, resource_entity={"uid": "x"})


def test_strict_request_validation_decides_alike(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    strict = Authorizer.from_env({**env, "CEDAR_VALIDATE_REQUESTS": "true"}, clock=clock)
    for _, user, method, path, template, kwargs, expected in CASES:
        token = user_token(issuer, user, clock.now)
        action, resource, context = backend_request(method, path, template, kwargs, clock.now)
        decision = strict.authorize_token(token, action, resource, context)
        assert decision.allowed is (expected == "Allow"), (user, path, decision)


# --- a live entity store (read per request) -----------------------------------------------------


class MemoryReader:
    """A BatchReader over the sample entities (what DynamoDB would answer)."""

    def __init__(self) -> None:
        self.items = {s.uid: s for s in map(stored_entity, ENTITIES)}
        self.reads: list[list[UidKey]] = []

    def read(self, uids: Any) -> dict[UidKey, StoredEntity | None]:
        self.reads.append(list(uids))
        return {uid: self.items.get(uid) for uid in uids}


def test_with_a_live_store(env: dict[str, str], issuer: LocalIssuer, clock: FakeClock) -> None:
    file_based = Authorizer.from_env(env, clock=clock)
    reader = MemoryReader()
    engine = Engine.load(ROOT / "policies", ROOT / "schemas" / "corp.cedarschema",
                         store=CachingStore(reader, clock=clock))  # fmt: skip
    live = Authorizer(file_based.settings, engine, clock=clock)
    assert live.engine.live_store
    for _, user, method, path, template, kwargs, expected in CASES:
        token = user_token(issuer, user, clock.now)
        action, resource, context = backend_request(method, path, template, kwargs, clock.now)
        assert live.authorize_token(token, action, resource, context).allowed is (
            expected == "Allow"
        ), (user, path)
        if resource["id"] in BY_ID:
            decision = live.authorize_token(token, action, None, context, BY_ID[resource["id"]])
            assert decision.allowed is (expected == "Allow"), (user, path, decision)
    hank = user_token(issuer, "hank", clock.now)
    assert live.redact([record("emp-001"), record("emp-101")], hank,
                       [emp("emp-001"), emp("emp-101")]) == [
        record("emp-001"), {"id": "emp-101", "name": "x"}]  # fmt: skip
    assert reader.reads  # the store was read, not a file


def test_a_principal_the_backend_loaded_decides_not_the_stores_version(tmp_path: Any) -> None:
    """The backend loaded alice from its own database, just suspended; the entity file still
    has her in no group. The file's alice was used, silently: Allow past the forbid on the
    suspended. A principal given as an entity now replaces the store's, as a resource does."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        '@id("read") permit (principal, action == Lab::Action::"get /stats", resource);\n'
        '@id("suspended") forbid (principal in Lab::UserGroup::"suspended", action, resource);\n'
    )
    (tmp_path / "lab.cedarschema").write_text(
        "namespace Lab { entity Application; entity UserGroup; entity User in [UserGroup];\n"
        '  action "get /stats" appliesTo { principal: User, resource: Application }; }'
    )
    alice_uid = {"type": "Lab::User", "id": "alice"}
    suspended = {"type": "Lab::UserGroup", "id": "suspended"}
    stored = [{"uid": alice_uid, "attrs": {}, "parents": []},
              {"uid": suspended, "attrs": {}, "parents": []}]  # fmt: skip
    (tmp_path / "entities.json").write_text(json.dumps(stored))
    authz = Authorizer.from_env({
        "AUTH_ISSUER": "https://idp.example.com", "AUTH_JWKS_URL": "https://idp.example.com/k",
        "AUTH_CLIENT_IDS": "app", "CEDAR_POLICY_DIR": str(tmp_path / "policies"),
        "CEDAR_SCHEMA": str(tmp_path / "lab.cedarschema"),
        "CEDAR_ENTITIES": str(tmp_path / "entities.json"), "ENTITY_ID_PREFIX": "",
    })  # fmt: skip
    app = 'Lab::Application::"Lab"'
    assert authz.is_authorized(alice_uid, "get /stats", app).allowed  # the file's alice
    loaded = {"uid": alice_uid, "attrs": {}, "parents": [suspended]}
    decision = authz.is_authorized(loaded, "get /stats", app)
    assert not decision.allowed and decision.determining == ("suspended",)
    # A user the file does not hold, given as an entity: as before.
    bob = {"uid": {"type": "Lab::User", "id": "bob"}, "attrs": {}, "parents": [suspended]}
    assert not authz.is_authorized(bob, "get /stats", app).allowed
    bob["parents"] = []
    assert authz.is_authorized(bob, "get /stats", app).allowed


def test_a_principal_the_backend_loaded_replaces_the_stored_one_in_the_slice(
    tmp_path: Any,
) -> None:
    """The store has alice suspended; the backend's fresh copy has her reinstated. When the
    resource is alice herself (or names her), both copies reached Cedar: a duplicate entity,
    NoDecision, denied."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        '@id("self") permit (principal, action == Lab::Action::"get /users/{userId}", resource)\n'
        "when { principal == resource };\n"
        '@id("keeper") permit (principal, action == Lab::Action::"get /cages/{cageId}", resource)\n'
        "when { resource.keeper == principal && !resource.keeper.suspended };\n"
        '@id("suspended") forbid (principal in Lab::UserGroup::"suspended", action, resource);\n'
    )
    (tmp_path / "lab.cedarschema").write_text(
        "namespace Lab { entity UserGroup; entity User in [UserGroup] = { suspended: Bool };\n"
        "  entity Cage = { keeper: User };\n"
        '  action "get /users/{userId}" appliesTo { principal: User, resource: User };\n'
        '  action "get /cages/{cageId}" appliesTo { principal: User, resource: Cage }; }'
    )
    alice_uid = {"type": "Lab::User", "id": "alice"}
    suspended = {"type": "Lab::UserGroup", "id": "suspended"}
    stored = [
        {"uid": alice_uid, "attrs": {"suspended": True}, "parents": [suspended]},
        {"uid": suspended, "attrs": {}, "parents": []},
        {"uid": {"type": "Lab::Cage", "id": "lions"}, "attrs": {"keeper": {"__entity": alice_uid}},
         "parents": []},
    ]  # fmt: skip
    (tmp_path / "entities.json").write_text(json.dumps(stored))
    authz = Authorizer.from_env({
        "AUTH_ISSUER": "https://idp.example.com", "AUTH_JWKS_URL": "https://idp.example.com/k",
        "AUTH_CLIENT_IDS": "app", "CEDAR_POLICY_DIR": str(tmp_path / "policies"),
        "CEDAR_SCHEMA": str(tmp_path / "lab.cedarschema"),
        "CEDAR_ENTITIES": str(tmp_path / "entities.json"), "ENTITY_ID_PREFIX": "",
    })  # fmt: skip
    reinstated = {"uid": alice_uid, "attrs": {"suspended": False}, "parents": []}
    for action, resource in (("get /users/{userId}", alice_uid),
                             ("get /cages/{cageId}", 'Lab::Cage::"lions"')):  # fmt: skip
        assert not authz.is_authorized(alice_uid, action, resource).allowed  # the store's alice
        decision = authz.is_authorized(reinstated, action, resource)
        assert decision.allowed and not decision.errors, (action, decision)
