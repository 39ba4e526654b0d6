"""The authorizer over policy bundles, end to end: real tokens and key set, bundles in files and on
S3 (a moto server on loopback), the refresh driven by an injected clock.

- one bundle: it decides; an edit published is decided within the refresh interval, never before,
  and no decision cached for the old version survives; a bad publish is refused (log line and
  metric) while the last good one serves; a cold start with none fails closed;
- a bundle per tenant: each tenant is decided by its own bundle only (a property test), a tenant
  with no bundle is denied, a tenant claim that is not a safe name is 401.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer import live as live_module
from authorizer import pdp as pdp_module
from authorizer.cedar.bundle import make_bundle
from authorizer.cedar.bundle_source import BundleUnavailable, bundle_source
from authorizer.cedar.schema import cedarschema_to_json
from authorizer.config import Settings
from authorizer.errors import ConfigError, DependencyError
from authorizer.handler import authorizer_from_env
from authorizer.live import LiveAuthorizer
from authorizer.pdp import Authorizer
from authorizer.telemetry import Telemetry
from authorizer.tooling.cli import main
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import ROOT, FakeClock, JwksServer
from tests.entity_tables import REGION
from tests.helpers import outcome, rest, user_token
from tests.test_bundles import s3_endpoint  # noqa: F401  # the fixture
from tests.test_hardening import SCHEMA
from tests.test_issuers import _two_servers, entry, other_key, pair, servers  # noqa: F401
from tests.test_revocation import closed_port_url

SHOP_SCHEMA = cedarschema_to_json(SCHEMA)
T = TypeVar("T")
TENANTS = ("acme", "globex", "initech")  # each has a bundle; "hooli" has none


def shop_bundle(*policies: str) -> bytes:
    return json.dumps(make_bundle({"shop.cedar": "\n".join(policies)}, SHOP_SCHEMA)).encode()


def doc_policy(owner: str) -> str:
    return (
        f'@id("{owner}-reads-own")\npermit (principal, action == '
        f'Shop::Action::"get /docs/{{docId}}", resource == Shop::Doc::"{owner}-doc");'
    )


def get_doc(token: str, doc: str) -> dict[str, Any]:
    return apigw.rest_request_event("GET", f"/docs/{doc}", "/docs/{docId}",
                                    headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def shop_env(issuer: LocalIssuer, jwks_server: JwksServer, bundle: str) -> dict[str, str]:
    return {
        "AUTH_ISSUER": issuer.issuer,
        "AUTH_JWKS_URL": jwks_server.url,
        "AUTH_CLIENT_IDS": issuer.client_id,
        "ENTITY_ID_PREFIX": "",
        "CEDAR_POLICY_BUNDLE": bundle,
    }


def logging_live(env: dict[str, str], clock: FakeClock) -> tuple[LiveAuthorizer, io.StringIO]:
    """A LiveAuthorizer over ``env`` with its decision log lines kept."""
    lines = io.StringIO()
    live = LiveAuthorizer(Settings.from_env(env), clock=clock,
                          telemetry=Telemetry(stream=lines, clock=clock))  # fmt: skip
    return live, lines


def logged(lines: io.StringIO, run: Callable[[], T]) -> tuple[T, list[dict[str, Any]]]:
    """What ``run`` returns, and the log lines it wrote."""
    before = len(lines.getvalue().splitlines())
    result = run()
    return result, [json.loads(line) for line in lines.getvalue().splitlines()[before:]]


# --- one bundle ---------------------------------------------------------------------------------


def test_the_sample_app_decides_alike_from_its_bundle(
    tmp_path: Path, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    out = tmp_path / "bundle.json"
    assert main(["bundle", "--policies", str(ROOT / "policies"), "--schema",
                 str(ROOT / "schemas" / "corp.cedarschema"), "--entities",
                 str(ROOT / "entities" / "corp.json"), "-o", str(out)]) == 0  # fmt: skip
    version = json.loads(out.read_text())["version"]
    bundled = authorizer_from_env({**env, "CEDAR_POLICY_BUNDLE": str(out)}, clock=clock)
    assert isinstance(bundled, LiveAuthorizer)
    from tests.test_sample_app import CASES  # noqa: PLC0415

    for _, user, method, path, template, kwargs, expected in CASES:
        event = rest(user_token(issuer, user, clock.now), method, path, template,
                     **{"now_ms": int(clock.now * 1000), **kwargs})  # fmt: skip
        assert outcome(bundled, event) == expected, (user, method, path)
    answer = bundled.handle(rest(user_token(issuer, "alice", clock.now), "GET", "/employees",
                                 "/employees"))  # fmt: skip
    assert answer["context"]["policyVersion"] == version
    # Without CEDAR_POLICY_BUNDLE the packaged folder serves, as before.
    assert isinstance(authorizer_from_env(env, clock=clock), Authorizer)


def test_an_edit_is_decided_within_the_refresh_interval_and_a_bad_publish_is_refused(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(shop_bundle(doc_policy("acme")))
    live, lines = logging_live(shop_env(issuer, jwks_server, str(path)), clock)
    token = issuer.token("u1", now=clock())
    assert outcome(live, get_doc(token, "acme-doc")) == "Allow"
    assert outcome(live, get_doc(token, "globex-doc")) == "Deny"  # cached from here on
    path.write_bytes(shop_bundle(doc_policy("globex")))
    clock.advance(29)
    assert outcome(live, get_doc(token, "globex-doc")) == "Deny"  # not due yet
    clock.advance(1)
    assert outcome(live, get_doc(token, "globex-doc")) == "Allow"  # the new version
    assert outcome(live, get_doc(token, "acme-doc")) == "Deny"  # no old decision survives
    version = json.loads(path.read_bytes())["version"]
    assert json.loads(lines.getvalue().splitlines()[-1])["policy_version"] == version
    # A publish that does not validate: refused, said so, and the last good one serves.
    path.write_bytes(shop_bundle('permit (principal, action == Shop::Action::"nope", resource);'))
    clock.advance(30)
    assert outcome(live, get_doc(token, "globex-doc")) == "Allow"
    refused = [json.loads(line) for line in lines.getvalue().splitlines()
               if '"bundle refused"' in line]  # fmt: skip
    assert refused and refused[-1]["BundleRefusals"] == 1
    assert "do not validate" in refused[-1]["reason"]


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        # Two actions on one route: Cedar validates it, the route table refuses it.
        ({**SHOP_SCHEMA, "Shop": {**SHOP_SCHEMA["Shop"], "actions": {
            **SHOP_SCHEMA["Shop"]["actions"],
            "get /docs/{id}": SHOP_SCHEMA["Shop"]["actions"]["get /docs/{docId}"]}}},
         "same route"),
        # A context.request the authorizer cannot give.
        ({**SHOP_SCHEMA, "Shop": {**SHOP_SCHEMA["Shop"], "actions": {
            **SHOP_SCHEMA["Shop"]["actions"],
            "get /docs": {**SHOP_SCHEMA["Shop"]["actions"]["get /docs"], "appliesTo": {
                **SHOP_SCHEMA["Shop"]["actions"]["get /docs"]["appliesTo"],
                "context": {"type": "Record", "attributes": {"request": {
                    "type": "Record", "attributes": {"sourceIp": {"type": "String"}}}}}}}}}},
         "sourceIp"),
    ],
)  # fmt: skip
def test_a_bundle_the_pipeline_cannot_be_built_on_is_refused_before_it_serves(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock,
    schema: dict[str, Any], why: str,
) -> None:  # fmt: skip
    """It validated, was swapped in, and the pipeline built on it refused: every request a 500,
    no refusal logged, for as long as it stayed published."""
    path = tmp_path / "bundle.json"
    path.write_bytes(shop_bundle(doc_policy("acme")))
    live, lines = logging_live(shop_env(issuer, jwks_server, str(path)), clock)
    token = issuer.token("u1", now=clock())
    assert outcome(live, get_doc(token, "acme-doc")) == "Allow"
    good = json.loads(path.read_bytes())["version"]
    path.write_bytes(json.dumps(make_bundle({"shop.cedar": doc_policy("acme")}, schema)).encode())
    clock.advance(30)
    assert outcome(live, get_doc(token, "acme-doc")) == "Allow"
    assert json.loads(lines.getvalue().splitlines()[-1])["policy_version"] == good
    refused = [json.loads(line) for line in lines.getvalue().splitlines()
               if '"bundle refused"' in line]  # fmt: skip
    assert refused and why in refused[-1]["reason"]


def test_each_request_is_one_log_line_whoever_answers_it(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """The pipeline of the bundle's version logs its answer, refusal or failure; the bundle
    layer around it adds no line of its own (before stop 18 every 401 behind one bundle was
    logged twice, the second time as an Error, so the metrics counted it as both)."""
    path = tmp_path / "bundle.json"
    path.write_bytes(shop_bundle(doc_policy("acme")))
    live, lines = logging_live(shop_env(issuer, jwks_server, str(path)), clock)
    token = issuer.token("u1", now=clock())
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[::-1]}"
    expired = issuer.token("u1", now=clock() - 7200)
    requests = [(token, "acme-doc", "Allow", "Allow"), (token, "globex-doc", "Deny", "Deny"),
                (forged, "acme-doc", "401", "Unauthorized"),
                (expired, "acme-doc", "401", "Unauthorized")]  # fmt: skip
    for credential, doc, answer, logged_as in requests:
        result, written = logged(lines, lambda c=credential, d=doc: outcome(live, get_doc(c, d)))
        assert result == answer
        assert [line["outcome"] for line in written] == [logged_as], (doc, written)


def test_a_cold_start_with_no_good_bundle_fails_closed(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    broken = tmp_path / "bundle.json"
    broken.write_bytes(shop_bundle("permit (principal, action, resource"))
    for url in (str(broken), str(tmp_path / "missing.json")):
        with pytest.raises(BundleUnavailable):
            LiveAuthorizer(Settings.from_env(shop_env(issuer, jwks_server, url)), clock=clock)


# --- S3: the publishing loop ------------------------------------------------------------------


def test_publish_with_bundle_upload_and_see_the_new_decision(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock,
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:  # fmt: skip
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")  # moto's, not AWS's
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    boto3.client("s3", region_name="us-east-1", endpoint_url=s3_endpoint).create_bucket(
        Bucket="bundles"
    )
    policies = tmp_path / "policies"
    policies.mkdir()
    (tmp_path / "shop.cedarschema").write_text(SCHEMA)
    publish = ["bundle", "--policies", str(policies), "--schema", str(tmp_path / "shop.cedarschema"),
               "--entities", "none", "--upload", "s3://bundles/prod/bundle.json"]  # fmt: skip
    (policies / "shop.cedar").write_text(doc_policy("acme"))
    assert main(publish) == 0
    env = {**shop_env(issuer, jwks_server, "s3://bundles/prod/bundle.json"),
           "AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_REGION": "us-east-1"}  # fmt: skip
    live = LiveAuthorizer(Settings.from_env(env), clock=clock)
    token = issuer.token("u1", now=clock())
    assert outcome(live, get_doc(token, "globex-doc")) == "Deny"
    (policies / "shop.cedar").write_text(doc_policy("globex"))
    assert main(publish) == 0
    clock.advance(30)
    assert outcome(live, get_doc(token, "globex-doc")) == "Allow"


# --- a bundle per tenant ----------------------------------------------------------------------


def tenant_bundles(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, claim: str = "tenant"
) -> tuple[Path, dict[str, str]]:
    """A bundle file per tenant (each reads its own document), and the settings that pick one
    by the token's ``claim``."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    for tenant in TENANTS:
        (folder / f"{tenant}.json").write_bytes(shop_bundle(doc_policy(tenant)))
    env = {**shop_env(issuer, jwks_server, str(folder / "{tenant}.json")),
           "CEDAR_TENANT_CLAIM": claim}  # fmt: skip
    return folder, env


@pytest.fixture
def tenants(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> LiveAuthorizer:
    _, env = tenant_bundles(tmp_path, issuer, jwks_server)
    env["CEDAR_TENANT_BUNDLES_MAX"] = "2"
    return LiveAuthorizer(Settings.from_env(env), clock=clock)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    tenant=st.sampled_from(
        [*TENANTS, "hooli", "../acme", "", "acme/x", "a" * 65, "acme\n", ".", ".."]
    ),
    owner=st.sampled_from([*TENANTS, "hooli"]),
)
def test_no_request_is_decided_by_another_tenants_bundle(
    tenants: LiveAuthorizer, issuer: LocalIssuer, clock: FakeClock, tenant: str, owner: str
) -> None:
    token = issuer.token("u1", extra={"tenant": tenant}, now=clock())
    result = outcome(tenants, get_doc(token, f"{owner}-doc"))
    if tenant not in (*TENANTS, "hooli"):
        assert result == "401"  # not a safe name: never a key, never a bundle
    elif tenant == owner and tenant in TENANTS:
        assert result == "Allow"
    else:
        assert result == "Deny"  # another tenant's document, or no bundle at all


def test_a_tenant_named_like_a_folder_or_ending_in_a_newline_is_refused(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """With ``<root>/{tenant}/bundle.json``, the tenants "." and ".." loaded the bundles at
    ``<root>`` and above it (an open one here: Allow). "acme\\n" passed the name check (`$`
    matches before a final newline), and on S3 urlsplit dropped the newline: acme's bundle."""
    root = tmp_path / "tenants"
    (root / "acme").mkdir(parents=True)
    (root / "acme" / "bundle.json").write_bytes(shop_bundle(doc_policy("acme")))
    everyone = "permit (principal, action, resource);"
    for folder in (root, tmp_path):
        (folder / "bundle.json").write_bytes(shop_bundle(everyone))
    env = {**shop_env(issuer, jwks_server, str(root / "{tenant}" / "bundle.json")),
           "CEDAR_TENANT_CLAIM": "tenant"}  # fmt: skip
    live = LiveAuthorizer(Settings.from_env(env), clock=clock)
    for tenant, expected in (("acme", "Allow"), (".", "401"), ("..", "401"), ("acme\n", "401")):
        token = issuer.token("u1", extra={"tenant": tenant}, now=clock())
        assert outcome(live, get_doc(token, "acme-doc")) == expected, tenant
    with pytest.raises(BundleUnavailable, match="s3://bucket/key"):
        bundle_source("s3://bundles/tenants/acme\n.json", client=object())
    assert bundle_source("s3://bundles/tenants/acme.json", client=object()).url == (
        "s3://bundles/tenants/acme.json"
    )
    # S3 keys `/k` and `k` are two objects: neither URL is read as the other.
    assert bundle_source("s3://bundles//k.json", client=object()).url == "s3://bundles//k.json"


def test_a_fresh_token_is_verified_once_to_pick_the_bundle_and_decide(
    tenants: LiveAuthorizer, issuer: LocalIssuer, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The bundle layer verifies the token to read its tenant; the tenant's pipeline decides
    with that verification, not a second signature check of its own, and with the event as
    the layer parsed it."""
    verifier = tenants.issuers.first.verifier
    checked: list[str] = []
    original = verifier.verify
    monkeypatch.setattr(verifier, "verify", lambda t, d=None: checked.append(t) or original(t, d))
    parsed: list[object] = []
    for module in (live_module, pdp_module):
        monkeypatch.setattr(module, "parse_event",
                            lambda e, read=module.parse_event: parsed.append(e) or read(e))  # fmt: skip
    tokens = [issuer.token(f"u{n}", extra={"tenant": "acme"}, now=clock()) for n in range(3)]
    events = [get_doc(token, doc) for token in tokens for doc in ("acme-doc", "globex-doc")]
    assert [outcome(tenants, event) for event in events] == ["Allow", "Deny"] * 3
    assert checked == tokens
    assert parsed == events
    # Still refused once verification fails: a forged token never reaches a pipeline.
    head, body, signature = tokens[0].split(".")
    assert outcome(tenants, get_doc(f"{head}.{body}.{signature[::-1]}", "acme-doc")) == "401"


def test_what_the_bundle_layer_refuses_is_logged_once_with_its_reason(
    tenants: LiveAuthorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Per tenant, the layer reads the token before any pipeline: what it refuses is one log
    line with the same reason a pipeline would give (not a generic one)."""
    lines = io.StringIO()
    tenants.telemetry = Telemetry(stream=lines, clock=clock)
    no_header = apigw.rest_request_event("GET", "/docs/acme-doc", "/docs/{docId}", headers={})
    unsafe = issuer.token("u1", extra={"tenant": "../acme"}, now=clock())
    expired = issuer.token("u1", extra={"tenant": "acme"}, now=clock() - 7200)
    cases = [(no_header, "missing_token"), (get_doc(unsafe, "acme-doc"), "bad_tenant"),
             (get_doc(expired, "acme-doc"), "expired")]  # fmt: skip
    for event, reason in cases:
        result, written = logged(lines, lambda e=event: outcome(tenants, e))
        assert result == "401"
        assert [(line["outcome"], line["reason"]) for line in written] == [
            ("Unauthorized", reason)
        ], written


def test_a_dependency_the_bundle_layer_needs_fails_closed_logged_as_such(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """The layer checks revocation before it picks a tenant's bundle: a revocation table it
    cannot read is a 500 logged as a dependency failure (not as the bundle's)."""
    (tmp_path / "acme.json").write_bytes(shop_bundle(doc_policy("acme")))
    env = {**shop_env(issuer, jwks_server, str(tmp_path / "{tenant}.json")),
           "CEDAR_TENANT_CLAIM": "tenant", "REVOCATION_TABLE": "revocations",
           "AWS_REGION": REGION, "AWS_ENDPOINT_URL_DYNAMODB": closed_port_url()}  # fmt: skip
    live, lines = logging_live(env, clock)
    token = issuer.token("u1", extra={"tenant": "acme"}, now=clock())
    with pytest.raises(DependencyError):
        live.handle(get_doc(token, "acme-doc"))
    written = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [(line["outcome"], line["reason"]) for line in written] == [("Error", "dependency")]


def test_a_tenant_without_a_bundle_is_denied_and_the_lru_reloads_on_demand(
    tenants: LiveAuthorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    hooli = issuer.token("u1", extra={"tenant": "hooli"}, now=clock())
    answer = tenants.handle(get_doc(hooli, "hooli-doc"))
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert answer["context"]["tenant"] == "hooli"
    # Three tenants through a cache of two: each still decided by its own bundle.
    for _ in range(2):
        for tenant in TENANTS:
            token = issuer.token("u1", extra={"tenant": tenant}, now=clock())
            assert outcome(tenants, get_doc(token, f"{tenant}-doc")) == "Allow"
    assert len(tenants._bundles) <= 2
    missing_claim = issuer.token("u1", now=clock())
    assert outcome(tenants, get_doc(missing_claim, "acme-doc")) == "401"


def test_bundle_configurations_that_cannot_work_refuse_to_start(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(shop_bundle(doc_policy("acme")))
    base = shop_env(issuer, jwks_server, str(path))
    for extra in (
        {"CEDAR_POLICY_BUNDLE": ""},  # no bundle at all
        {"ENTITY_STORE_TABLE": "entities"},  # the bundle carries the entities
    ):
        with pytest.raises(ConfigError):
            LiveAuthorizer(Settings.from_env({**base, **extra}), clock=clock)
    issuers = json.dumps([{"issuer": issuer.issuer, "jwks_url": jwks_server.url,
                           "client_ids": [issuer.client_id], "entity_id_prefix": "p",
                           "policy_bundle": str(tmp_path / "{tenant}.json")}])  # fmt: skip
    only_issuers = {"AUTH_ISSUERS": issuers, "ENTITY_ID_PREFIX": ""}
    with pytest.raises(ConfigError, match="CEDAR_TENANT_CLAIM"):
        LiveAuthorizer(Settings.from_env(only_issuers), clock=clock)
    with pytest.raises(ConfigError, match="no policy bundle has"):
        LiveAuthorizer(Settings.from_env({**base, "CEDAR_POLICY_BUNDLE": "",
                                          "CEDAR_TENANT_CLAIM": "tenant",
                                          "AUTH_ISSUERS": issuers.replace("{tenant}", "x"),
                                          "AUTH_ISSUER": ""}), clock=clock)  # fmt: skip


def test_each_issuer_is_decided_by_its_own_bundle(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],  # noqa: F811
    servers: tuple[JwksServer, JwksServer],  # noqa: F811
) -> None:  # fmt: skip
    """Issuer A names its own bundle; issuer B falls back to CEDAR_POLICY_BUNDLE, or, with none
    for everyone, to the packaged folder."""
    (tmp_path / "a.json").write_bytes(shop_bundle(doc_policy("acme")))
    a, b = pair
    issuers = [entry(a, servers[0], "a", policy_bundle=str(tmp_path / "a.json")),
               entry(b, servers[1], "b")]  # fmt: skip
    (tmp_path / "everyone.json").write_bytes(shop_bundle(doc_policy("globex")))
    env = {"AUTH_ISSUERS": json.dumps(issuers),
           "CEDAR_POLICY_BUNDLE": str(tmp_path / "everyone.json")}  # fmt: skip
    live = authorizer_from_env(env, clock=clock)
    assert isinstance(live, LiveAuthorizer)
    from_a, from_b = (i.token("u1", now=clock.now) for i in pair)
    assert outcome(live, get_doc(from_a, "acme-doc")) == "Allow"
    assert outcome(live, get_doc(from_a, "globex-doc")) == "Deny"
    assert outcome(live, get_doc(from_b, "globex-doc")) == "Allow"
    assert outcome(live, get_doc(from_b, "acme-doc")) == "Deny"
    # Without CEDAR_POLICY_BUNDLE, B is decided by the packaged folder (here: the Shop app's).
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "shop.cedar").write_text(doc_policy("initech"))
    (tmp_path / "shop.cedarschema").write_text(SCHEMA)
    folder = {"AUTH_ISSUERS": json.dumps(issuers), "CEDAR_POLICY_DIR": str(tmp_path / "policies"),
              "CEDAR_SCHEMA": str(tmp_path / "shop.cedarschema"), "CEDAR_ENTITIES": "none"}  # fmt: skip
    mixed = authorizer_from_env(folder, clock=clock)
    assert outcome(mixed, get_doc(from_b, "initech-doc")) == "Allow"
    assert outcome(mixed, get_doc(from_b, "globex-doc")) == "Deny"
    assert outcome(mixed, get_doc(from_a, "acme-doc")) == "Allow"


def test_an_issuers_fixed_bundle_keeps_its_last_good_version_whatever_tenants_come_and_go(
    tmp_path: Path, clock: FakeClock, pair: tuple[LocalIssuer, LocalIssuer],  # noqa: F811
    servers: tuple[JwksServer, JwksServer],  # noqa: F811
) -> None:  # fmt: skip
    """Fixed and tenant bundles shared one LRU: tenants evicted issuer A's fixed bundle, which
    was then rebuilt from its damaged source (a 500 for all of A's callers) instead of serving
    its last good version."""
    fixed = tmp_path / "a.json"
    fixed.write_bytes(shop_bundle(doc_policy("acme")))
    for tenant in TENANTS:
        (tmp_path / f"{tenant}.json").write_bytes(shop_bundle(doc_policy(tenant)))
    a, b = pair
    issuers = [entry(a, servers[0], "a", policy_bundle=str(fixed)),
               entry(b, servers[1], "b", policy_bundle=str(tmp_path / "{tenant}.json"))]  # fmt: skip
    env = {"AUTH_ISSUERS": json.dumps(issuers), "CEDAR_TENANT_CLAIM": "tenant",
           "CEDAR_TENANT_BUNDLES_MAX": "1"}  # fmt: skip
    live = authorizer_from_env(env, clock=clock)
    from_a = a.token("u1", now=clock.now)
    assert outcome(live, get_doc(from_a, "acme-doc")) == "Allow"
    fixed.write_bytes(b"damaged")
    clock.advance(30)
    assert outcome(live, get_doc(a.token("u1", now=clock.now), "acme-doc")) == "Allow"
    for tenant in TENANTS:  # each evicts the last from an LRU of one
        token = b.token("u1", extra={"tenant": tenant}, now=clock.now)
        assert outcome(live, get_doc(token, f"{tenant}-doc")) == "Allow"
    assert outcome(live, get_doc(a.token("u2", now=clock.now), "acme-doc")) == "Allow"


def test_a_tenant_whose_bundle_is_deleted_is_denied_from_the_next_check(
    tenants: LiveAuthorizer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Offboarding: a tenant's bundle deleted is that tenant gone, not an outage during which
    its old policies keep allowing (one bundle for everyone rides an outage out instead)."""
    token = issuer.token("u1", extra={"tenant": "acme"}, now=clock())
    assert outcome(tenants, get_doc(token, "acme-doc")) == "Allow"
    (Path(tenants.bundle_url("acme"))).unlink()
    clock.advance(29)
    fresh = issuer.token("u1", extra={"tenant": "acme"}, now=clock())
    assert outcome(tenants, get_doc(fresh, "acme-doc")) == "Allow"  # not checked yet
    clock.advance(1)
    fresh = issuer.token("u1", extra={"tenant": "acme"}, now=clock())
    assert outcome(tenants, get_doc(fresh, "acme-doc")) == "Deny"


@pytest.mark.parametrize("refresh", ["0", "30"])
def test_a_tenant_bundle_that_could_not_serve_is_tried_again_soon(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock, refresh: str
) -> None:
    """A tenant's first request during an outage (here: a damaged file) was a 500 until the
    next refresh, for good with refresh 0; a bundle published after the tenant's first request
    was never seen with refresh 0. Both are checked again after RETRY_WITHOUT_ENGINE_S."""
    folder, env = tenant_bundles(tmp_path, issuer, jwks_server)
    env["CEDAR_POLICY_REFRESH_SECONDS"] = refresh
    live = LiveAuthorizer(Settings.from_env(env), clock=clock)
    hooli = folder / "hooli.json"
    token = issuer.token("u1", extra={"tenant": "hooli"}, now=clock())
    assert outcome(live, get_doc(token, "hooli-doc")) == "Deny"  # no bundle
    hooli.write_bytes(shop_bundle(doc_policy("hooli")))  # published after
    clock.advance(4)
    assert outcome(live, get_doc(token, "hooli-doc")) == "Deny"  # not checked again yet
    clock.advance(1)
    assert outcome(live, get_doc(token, "hooli-doc")) == "Allow"
    acme = folder / "acme.json"
    good = acme.read_bytes()
    acme.write_bytes(good[: len(good) // 2])  # damaged before acme's first request
    token = issuer.token("u1", extra={"tenant": "acme"}, now=clock())
    with pytest.raises(BundleUnavailable):
        live.handle(get_doc(token, "acme-doc"))
    acme.write_bytes(good)
    clock.advance(5)
    assert outcome(live, get_doc(token, "acme-doc")) == "Allow"


# --- backends: the data layer decides with the gateway's policies ------------------------------


def test_a_backend_follows_the_bundle_as_the_lambda_does(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """``from authorizer import Authorizer; Authorizer.from_env()`` with the Lambda's settings:
    the same version decides at both layers, an edit within the refresh interval."""
    from authorizer import Authorizer as Backend  # noqa: PLC0415  # the backend library's

    path = tmp_path / "bundle.json"
    path.write_bytes(shop_bundle(doc_policy("acme")))
    env = shop_env(issuer, jwks_server, str(path))
    backend = Backend.from_env(env, clock=clock)
    lambda_side = authorizer_from_env(env, clock=clock)
    token = issuer.token("u1", now=clock())
    action, acme, globex = "get /docs/{docId}", 'Shop::Doc::"acme-doc"', 'Shop::Doc::"globex-doc"'

    def both(doc: str) -> tuple[bool, str]:
        gateway = outcome(lambda_side, get_doc(token, doc.split('"')[1]))
        return backend.authorize_token(token, action, doc).allowed, gateway

    assert both(acme) == (True, "Allow") and both(globex) == (False, "Deny")
    assert backend.allowed_resources(token, action, [acme, globex]) == [acme]
    path.write_bytes(shop_bundle(doc_policy("globex")))
    clock.advance(29)
    assert both(globex) == (False, "Deny")  # not due yet, at either layer
    clock.advance(1)
    assert both(globex) == (True, "Allow") and both(acme) == (False, "Deny")
    assert backend.is_authorized('Shop::User::"u1"', action, globex).allowed
    assert backend.current().engine.version == json.loads(path.read_bytes())["version"]
    assert backend.engine is backend.current().engine  # one bundle: the current version's
    assert backend.routes is backend.current().routes
    # Without a bundle the backend is the packaged folder's, as before.
    folder = Backend.from_env({**env, "CEDAR_POLICY_BUNDLE": "",
                               "CEDAR_POLICY_DIR": str(ROOT / "policies"),
                               "CEDAR_SCHEMA": str(ROOT / "schemas" / "corp.cedarschema")},
                              clock=clock)  # fmt: skip
    assert folder.current() is folder


def test_a_backend_follows_each_tenants_bundle(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """Per tenant, the caller's token or claims pick the bundle, as at the gateway; without
    them the backend cannot know which bundle decides and says so."""
    from authorizer import Authorizer as Backend  # noqa: PLC0415
    from authorizer.cedar.bundle_source import BundleMissing  # noqa: PLC0415

    folder, env = tenant_bundles(tmp_path, issuer, jwks_server)
    backend = Backend.from_env(env, clock=clock)
    gateway = authorizer_from_env(env, clock=clock)
    action = "get /docs/{docId}"
    for tenant in TENANTS:
        token = issuer.token("u1", extra={"tenant": tenant}, now=clock())
        for owner in TENANTS:
            doc = f'Shop::Doc::"{owner}-doc"'
            expected = tenant == owner
            assert backend.authorize_token(token, action, doc).allowed is expected
            assert outcome(gateway, get_doc(token, f"{owner}-doc")) == (
                "Allow" if expected else "Deny"
            )
        docs = [f'Shop::Doc::"{owner}-doc"' for owner in TENANTS]
        assert backend.allowed_resources(token, action, docs) == [f'Shop::Doc::"{tenant}-doc"']
        claims = {"sub": "u1", "tenant": tenant}  # a backend's own claims pick the bundle too
        assert backend.is_authorized('Shop::User::"u1"', action, f'Shop::Doc::"{tenant}-doc"',
                                     claims=claims).allowed  # fmt: skip
    with pytest.raises(ConfigError, match="token or claims"):
        backend.is_authorized('Shop::User::"u1"', action, 'Shop::Doc::"acme-doc"')
    with pytest.raises(AttributeError, match=r"current\(claims\)\.engine"):
        _ = backend.engine  # per tenant: which pipeline is meant depends on the caller
    assert not hasattr(backend, "no_such_thing")
    hooli = issuer.token("u1", extra={"tenant": "hooli"}, now=clock())
    with pytest.raises(BundleMissing):  # no bundle: an error (500), never another's policies
        backend.authorize_token(hooli, action, 'Shop::Doc::"hooli-doc"')
    # An edit of one tenant's bundle is followed within the refresh interval.
    acme = issuer.token("u1", extra={"tenant": "acme"}, now=clock())
    (folder / "acme.json").write_bytes(shop_bundle(doc_policy("globex")))
    clock.advance(30)
    assert backend.authorize_token(acme, action, 'Shop::Doc::"globex-doc"').allowed
    assert not backend.authorize_token(acme, action, 'Shop::Doc::"acme-doc"').allowed


def test_a_backend_trusting_the_gateway_picks_the_tenants_bundle_from_its_context(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """Behind the gateway, the backend decides with the same tenant's bundle as the gateway
    (the forwarded token's tenant claim; the context carries it too, under its own name)."""
    from authorizer import Authorizer as Backend  # noqa: PLC0415
    from authorizer.sdk.middleware import identify  # noqa: PLC0415

    _, env = tenant_bundles(tmp_path, issuer, jwks_server, claim="custom:org")
    backend = Backend.from_env(env, clock=clock)
    gateway = authorizer_from_env(env, clock=clock)
    for tenant in TENANTS:
        token = issuer.token("u1", extra={"custom:org": tenant}, now=clock())
        answer = gateway.handle(get_doc(token, f"{tenant}-doc"))
        assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        assert answer["context"]["custom:org"] == tenant
        subject = identify(backend, f"Bearer {token}", answer["context"], trust_gateway=True)
        action = "get /docs/{docId}"
        for owner in TENANTS:
            decision = backend.is_authorized(subject, action, f'Shop::Doc::"{owner}-doc"')
            assert decision.allowed is (owner == tenant)


def test_a_same_size_publish_that_keeps_its_mtime_is_seen(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock
) -> None:
    """A permit turned forbid (both words 6 letters), published with its mtime kept as `cp -p`
    keeps it: size and mtime alike, so the old version served on."""
    import os  # noqa: PLC0415

    path = tmp_path / "bundle.json"
    allow = doc_policy("acme")
    path.write_bytes(shop_bundle(allow))
    live, _ = logging_live(shop_env(issuer, jwks_server, str(path)), clock)
    token = issuer.token("u1", now=clock())
    assert outcome(live, get_doc(token, "acme-doc")) == "Allow"
    before = path.stat()
    staged = tmp_path / "staged.json"
    staged.write_bytes(shop_bundle(allow.replace("permit", "forbid")))
    assert staged.stat().st_size == before.st_size
    os.utime(staged, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(staged, path)
    clock.advance(30)
    assert outcome(live, get_doc(token, "acme-doc")) == "Deny"


def test_redirecting_the_telemetry_reaches_the_pipelines_built_at_start(
    tmp_path: Path, issuer: LocalIssuer, jwks_server: JwksServer, clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`cedar-authz invoke --quiet` replaced the bundle layer's telemetry after its pipelines
    were built with the old one: the decision line went to stdout, before the JSON answer."""
    import io as _io  # noqa: PLC0415

    path = tmp_path / "bundle.json"
    path.write_bytes(shop_bundle(doc_policy("acme")))
    live = authorizer_from_env(shop_env(issuer, jwks_server, str(path)), clock=clock)
    assert isinstance(live, LiveAuthorizer)
    kept = _io.StringIO()
    live.telemetry.write_to(kept)
    capsys.readouterr()
    assert outcome(live, get_doc(issuer.token("u1", now=clock()), "acme-doc")) == "Allow"
    assert '"outcome":"Allow"' in kept.getvalue()
    assert capsys.readouterr().out == ""
