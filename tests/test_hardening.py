"""Regressions of the hostile-input runs: each case here answered Allow or crashed before.

A small application of its own (namespace ``Shop``, no sample data), real RS256 tokens and a real
JWKS over HTTP: nothing here depends on the sample app.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.errors import (
    INTERNAL_ERROR,
    UNAUTHORIZED,
    ConfigError,
    DependencyError,
    InvalidRequest,
    InvalidToken,
    status_of,
)
from authorizer.identity import tokens
from authorizer.limits import MAX_GROUPS
from authorizer.pdp import Authorizer
from authorizer.telemetry import MAX_LOGGED_VALUE, Telemetry
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import FakeClock, JwksServer
from tests.helpers import outcome

SCHEMA = """
namespace Shop {
  type Token = { "scope"?: Set<String> };
  entity Application;
  entity UserGroup;
  entity User in [UserGroup] = { "tenant"?: String, "level"?: Long,
                                "profile"?: { "region"?: String } };
  entity Doc;
  action "get /docs" appliesTo { principal: User, resource: Application,
                                 context: { "token": Token } };
  action "get /docs/{docId}" appliesTo { principal: User, resource: Doc,
                                         context: { "token": Token } };
  action "post /pay" appliesTo { principal: User, resource: Application,
                                 context: { "token": Token, "amount"?: Long } };
}
"""
POLICIES = """
@id("readers-read")
permit (principal in Shop::UserGroup::"readers", action, resource);

@id("suspended-nothing")
forbid (principal in Shop::UserGroup::"suspended", action, resource);

@id("level-zero-nothing")
forbid (principal, action, resource) when { principal has level && principal.level == 0 };

@id("banned-scope-no-docs")
forbid (principal, action == Shop::Action::"get /docs", resource)
when { context.token has scope && context.token.scope.contains("banned") };

@id("small-payments")
permit (principal, action == Shop::Action::"post /pay", resource)
when { context has amount && context.amount <= 100 };
"""


@pytest.fixture
def shop(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> Authorizer:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "shop.cedar").write_text(POLICIES)
    (tmp_path / "shop.cedarschema").write_text(SCHEMA)
    env = {
        "AUTH_ISSUER": issuer.issuer,
        "AUTH_JWKS_URL": jwks_server.url,
        "AUTH_CLIENT_IDS": issuer.client_id,
        "CEDAR_POLICY_DIR": str(tmp_path / "policies"),
        "CEDAR_SCHEMA": str(tmp_path / "shop.cedarschema"),
        "CEDAR_ENTITIES": "none",
        "ENTITY_ID_PREFIX": "",
    }
    return Authorizer.from_env(env, clock=clock)


def token(issuer: LocalIssuer, clock: FakeClock, groups: list[str], **extra: Any) -> str:
    return issuer.token("u1", groups=groups, extra=extra, now=clock())


def get_docs(value: str, **kwargs: Any) -> dict[str, Any]:
    return apigw.rest_request_event(
        "GET", "/docs", "/docs", headers={"Authorization": f"Bearer {value}"}, **kwargs
    )


def pay(value: str, query: str) -> dict[str, Any]:
    """POST /pay with a raw query string: REST events carry both query forms."""
    event = apigw.rest_request_event(
        "POST", "/pay", "/pay", headers={"Authorization": f"Bearer {value}"}
    )
    pairs = [p.split("=", 1) for p in query.split("&")]
    multi: dict[str, list[str]] = {}
    for name, item in pairs:
        multi.setdefault(name, []).append(item)
    event["multiValueQueryStringParameters"] = multi
    event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()}  # REST keeps the last
    return event


# --- 1. a long group list never drops the forbid's group --------------------------------------


def test_a_group_list_over_the_limit_is_refused_not_cut(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    others = [f"g{i}" for i in range(MAX_GROUPS - 1)]
    # readers + 199 others + suspended: the 201st group is the forbid's. Cutting at 200 allowed.
    over = token(issuer, clock, ["readers", *others, "suspended"])
    assert outcome(shop, get_docs(over)) == "401"
    # At the limit everything is there, and the forbid wins.
    at_limit = token(issuer, clock, ["readers", *others[:-1], "suspended"])
    assert outcome(shop, get_docs(at_limit)) == "Deny"
    assert outcome(shop, get_docs(token(issuer, clock, ["readers"]))) == "Allow"


@pytest.mark.parametrize("groups", [["readers", 7], ["readers", ""], {"readers": True}])
def test_a_groups_claim_that_is_not_a_list_of_names_is_refused(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock, groups: Any
) -> None:
    claims = issuer.claims("u1", now=clock())
    claims["cognito:groups"] = groups
    assert outcome(shop, get_docs(issuer.sign(claims))) == "401"


# --- 4. values that overflow are the input's fault, not a 500 ---------------------------------


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value", [10**400, -1, 253_402_300_800], ids=["10e400", "negative", "year-10000"]
)
def test_numeric_dates_out_of_range_are_401(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock, name: str, value: int
) -> None:
    claims = issuer.claims("u1", groups=["readers"], now=clock())
    claims[name] = value
    assert outcome(shop, get_docs(issuer.sign(claims))) == "401"


@pytest.mark.parametrize("epoch_ms", [10**20, 253_402_300_800_000])
def test_request_times_past_year_9999_are_refused(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock, epoch_ms: int
) -> None:
    rest = get_docs(token(issuer, clock, ["readers"]), now_ms=epoch_ms)
    assert outcome(shop, rest) == "401"
    v2 = apigw.http_v2_event(
        "GET", "/docs", "/docs",
        headers={"authorization": "Bearer " + token(issuer, clock, ["readers"])},
    )  # fmt: skip
    v2["requestContext"]["timeEpoch"] = epoch_ms
    assert outcome(shop, v2) == "401"


# --- 6. token hardening ---------------------------------------------------------------------


def test_a_nested_jwt_header_is_refused(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    claims = issuer.claims("u1", groups=["readers"], now=clock())
    assert outcome(shop, get_docs(issuer.sign(claims))) == "Allow"
    assert outcome(shop, get_docs(issuer.sign(claims, headers={"cty": "JWT"}))) == "401"


def test_a_cognito_token_without_token_use_is_refused(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    claims = issuer.claims("u1", groups=["readers"], now=clock())
    del claims["token_use"]  # before, `scope` made it an access token
    assert outcome(shop, get_docs(issuer.sign(claims))) == "401"


def test_a_signature_in_a_non_canonical_encoding_is_refused(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    good = token(issuer, clock, ["readers"])
    signing_input, _, signature = good.rpartition(".")
    # 256 signature bytes are 342 characters and 4 unused bits: flip the lowest of them.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) ^ 1]
    twin = f"{signing_input}.{signature[:-1]}{last}"
    assert base64.urlsafe_b64decode(twin.rpartition(".")[2] + "==") == base64.urlsafe_b64decode(
        signature + "=="
    )  # the same bytes: only the encoding differs
    assert outcome(shop, get_docs(good)) == "Allow"
    assert outcome(shop, get_docs(twin)) == "401"


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=80), st.integers(0, 63))
def test_the_canonical_check_accepts_exactly_the_canonical_encoding(raw: bytes, last: int) -> None:
    """The check reads the last character only (the unused bits it carries): it agrees with
    decoding and encoding again, for every length and every last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    segment = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert tokens._signature_bytes(segment) == raw
    variant = segment[:-1] + alphabet[last]
    decoded = base64.urlsafe_b64decode(variant + "=" * (-len(variant) % 4))
    canonical = base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() == variant
    try:
        accepted = tokens._signature_bytes(variant) == decoded
    except ValueError:
        accepted = False
    assert accepted == canonical


# --- 7. what reaches the backend is what Cedar saw ---------------------------------------------


def test_custom_tenant_is_not_forwarded_as_the_tenant(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    writable = token(issuer, clock, ["readers"], **{"custom:tenant": "victim"})
    context = shop.handle(get_docs(writable))["context"]
    assert "tenant" not in context
    declared = token(issuer, clock, ["readers"], tenant="acme")
    assert shop.handle(get_docs(declared))["context"]["tenant"] == "acme"


def test_a_parameter_given_twice_is_refused_only_where_a_policy_may_read_the_query(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """Any parameter given twice was refused (401) on a route whose policies read the request,
    though they read only its time: AWS's own HTTP API sample event was refused."""
    (tmp_path / "p.cedar").write_text(
        '@id("open") permit (principal, action, resource);\n'
        '@id("night") forbid (principal, action == Shop::Action::"get /docs", resource)\n'
        '  when { context.request.time < datetime("2000-01-01") };\n'
        '@id("no-tag-x") forbid (principal, action == Shop::Action::"get /docs/{docId}", resource)\n'
        '  when { context.request.query has tag && context.request.query.tag == "x" };'
    )
    env = {"AUTH_ISSUER": issuer.issuer, "AUTH_JWKS_URL": jwks_server.url,
           "AUTH_CLIENT_IDS": issuer.client_id, "CEDAR_POLICY_DIR": str(tmp_path),
           "CEDAR_SCHEMA": "none", "CEDAR_NAMESPACE": "Shop", "CEDAR_ENTITIES": "none"}  # fmt: skip
    shop = Authorizer.from_env(env, clock=clock)
    bearer = {"authorization": f"Bearer {token(issuer, clock, [])}"}

    def get(path: str, template: str, query: str) -> str:
        v2 = apigw.http_v2_event("GET", path, template, headers=bearer)
        v2["rawQueryString"] = query
        return outcome(shop, v2)

    assert get("/docs", "/docs", "tag=a&tag=b") == "Allow"  # time read, the query not
    assert get("/docs/d1", "/docs/{docId}", "tag=a") == "Allow"
    assert get("/docs/d1", "/docs/{docId}", "tag=x") == "Deny"
    assert get("/docs/d1", "/docs/{docId}", "tag=a&tag=x") == "401"  # which tag decides?


def test_the_tenant_forwarded_is_the_one_cedar_saw_when_the_file_holds_the_user(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """The entities file's version of a user wins over the token's claims; the context for the
    backend still forwarded the token's `tenant`, so a backend scoping data by it read another
    tenant's."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "shop.cedar").write_text(POLICIES)
    (tmp_path / "shop.cedarschema").write_text(SCHEMA)
    users = [{"uid": {"type": "Shop::User", "id": "u1"}, "attrs": {"tenant": "acme"},
              "parents": [{"type": "Shop::UserGroup", "id": "readers"}]}]  # fmt: skip
    (tmp_path / "users.json").write_text(json.dumps(users))
    env = {"AUTH_ISSUER": issuer.issuer, "AUTH_JWKS_URL": jwks_server.url,
           "AUTH_CLIENT_IDS": issuer.client_id, "CEDAR_POLICY_DIR": str(tmp_path / "policies"),
           "CEDAR_SCHEMA": str(tmp_path / "shop.cedarschema"),
           "CEDAR_ENTITIES": str(tmp_path / "users.json"), "ENTITY_ID_PREFIX": ""}  # fmt: skip
    shop = Authorizer.from_env(env, clock=clock)
    answer = shop.handle(get_docs(token(issuer, clock, [], tenant="globex")))
    assert answer["context"]["tenant"] == "acme"
    other = shop.handle(get_docs(issuer.token("u2", groups=["readers"], extra={"tenant": "globex"},
                                              now=clock())))  # fmt: skip
    assert other["context"]["tenant"] == "globex"  # not in the file: the token's


def test_a_duplicated_parameter_that_a_policy_reads_is_refused(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    payer = token(issuer, clock, [])
    assert outcome(shop, pay(payer, "amount=100")) == "Allow"
    assert outcome(shop, pay(payer, "amount=1000000")) == "Deny"
    # Decided on the first before, while the REST backend is handed the last.
    assert outcome(shop, pay(payer, "amount=100&amount=1000000")) == "401"
    v2 = apigw.http_v2_event("POST", "/pay", "/pay", headers={"authorization": f"Bearer {payer}"})
    v2["rawQueryString"] = "amount=100&amount=1000000"
    assert outcome(shop, v2) == "401"


def test_a_claim_that_cannot_take_its_declared_type_is_refused_not_dropped(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Dropped, `level: "zero"` made `principal has level` false, and the forbid on level 0 did
    not hold: Allow. A claim a policy may read is all there or the request is refused."""
    assert outcome(shop, get_docs(token(issuer, clock, ["readers"]))) == "Allow"
    for level in (0, "0", " 0 "):
        assert outcome(shop, get_docs(token(issuer, clock, ["readers"], level=level))) == "Deny"
    for level in ("zero", 0.5, True, [0], {"n": 0}, 2**63):
        mistyped = token(issuer, clock, ["readers"], level=level)
        assert outcome(shop, get_docs(mistyped)) == "401", level
    with pytest.raises(InvalidToken, match="claim 'level' is not a Long") as refused:
        shop.mapping.principal_entities({"sub": "u1", "level": "zero"})
    assert refused.value.reason == "bad_claim"
    # Inside a record: named by its path. A null claim is no claim.
    with pytest.raises(InvalidToken, match=r"'profile\.region' is not a String"):
        shop.mapping.principal_entities({"sub": "u1", "profile": {"region": ["eu"]}})
    assert outcome(shop, get_docs(token(issuer, clock, ["readers"], level=None))) == "Allow"
    # The token's own record (context.token), which a policy reads, too: a Set<String> `scope`
    # with one element that is no String was absent, and the forbid on "banned" did not hold.
    assert outcome(shop, get_docs(token(issuer, clock, ["readers"], scope="a b"))) == "Allow"
    assert outcome(shop, get_docs(token(issuer, clock, ["readers"], scope="banned"))) == "Deny"
    bad_scope = token(issuer, clock, ["readers"], scope=["banned", ["x"]])
    assert outcome(shop, get_docs(bad_scope)) == "401"


# --- 9. one error contract ----------------------------------------------------------------------


def test_status_of_maps_each_branch_once() -> None:
    assert status_of(InvalidToken("x")) == UNAUTHORIZED
    assert status_of(InvalidRequest("x")) == UNAUTHORIZED
    assert status_of(DependencyError("x")) == INTERNAL_ERROR
    assert status_of(ConfigError("x")) == INTERNAL_ERROR
    assert status_of(KeyError("a bug")) == INTERNAL_ERROR


def test_an_unexpected_error_in_the_lambda_is_a_500_not_a_401(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(shop, "decide", broken)
    with pytest.raises(KeyError):
        shop.handle(get_docs(token(issuer, clock, ["readers"])))


# --- 10. log lines hold bounded values --------------------------------------------------------


def test_log_lines_cap_values_taken_from_the_request(
    shop: Authorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    stream = io.StringIO()
    shop.telemetry = Telemetry(stream=stream, clock=clock)
    huge = "d" * 1_000_000
    event = apigw.rest_request_event(
        "GET", "/docs/ddd", "/docs/{docId}",
        headers={"Authorization": "Bearer " + token(issuer, clock, ["readers"])},
    )  # fmt: skip
    event["pathParameters"] = {"docId": huge}  # the ARN has a length limit; this has none
    assert outcome(shop, event) == "Allow"
    (line,) = stream.getvalue().splitlines()
    assert len(line) < 2 * MAX_LOGGED_VALUE + 1000
    record = json.loads(line)
    assert record["outcome"] == "Allow"
    assert record["principal"] == "u1"
    assert record["resource"].startswith('Shop::Doc::"ddd')
    assert record["resource"].endswith(f"(+{len(huge) + 13 - MAX_LOGGED_VALUE} chars)")


FILES_SCHEMA = """
namespace Files {
  entity Application;
  entity UserGroup;
  entity User in [UserGroup];
  entity Folder;
  entity Document in [Folder];
  entity Report;
  action "get /items/{itemId}" appliesTo { principal: User, resource: [Document, Folder] };
  action "get /folders/{folderId}/files/{fileName}" appliesTo { principal: User, resource: Folder };
  action "get /reports" appliesTo { principal: User, resource: Report };
}
"""
FILES_POLICIES = """
@id("everyone") permit (principal, action, resource);
@id("locked") forbid (principal, action, resource in Files::Folder::"locked");
"""


def test_a_route_that_cannot_give_its_actions_resource_is_denied_and_ids_follow_names(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """Two declared resource types (or one, and no id in the path): the request was decided on
    the Application, which no forbid on a folder reaches: Allow. And on
    /folders/{folderId}/files/{fileName} the Folder was the last parameter, the file's name."""
    (tmp_path / "p.cedar").write_text(FILES_POLICIES)
    (tmp_path / "s.cedarschema").write_text(FILES_SCHEMA)
    env = {"AUTH_ISSUER": issuer.issuer, "AUTH_JWKS_URL": jwks_server.url,
           "AUTH_CLIENT_IDS": issuer.client_id, "CEDAR_POLICY_DIR": str(tmp_path),
           "CEDAR_SCHEMA": str(tmp_path / "s.cedarschema"), "CEDAR_ENTITIES": "none"}  # fmt: skip
    files = Authorizer.from_env(env, clock=clock)
    bearer = {"Authorization": f"Bearer {token(issuer, clock, [])}"}

    def get(path: str, template: str) -> str:
        return outcome(files, apigw.rest_request_event("GET", path, template, headers=bearer))

    assert get("/items/locked", "/items/{itemId}") == "Deny"
    assert get("/items/open", "/items/{itemId}") == "Deny"
    assert get("/reports", "/reports") == "Deny"
    answer = files.handle(apigw.rest_request_event("GET", "/reports", "/reports", headers=bearer))
    assert answer["context"]["determiningPolicies"] == ""
    route = "/folders/{folderId}/files/{fileName}"
    assert get("/folders/open/files/locked", route) == "Allow"
    assert get("/folders/locked/files/open", route) == "Deny"
