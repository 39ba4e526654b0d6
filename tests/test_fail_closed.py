"""Authorization fails closed: evaluation errors, unparsable or invalid policies, and an
exception in any layer never yield Allow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from authorizer import handler
from authorizer.cedar.engine import Engine
from authorizer.cedar.policies import load_policies
from authorizer.config import Settings
from authorizer.errors import ConfigError, PolicyError, SchemaError
from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer
from tests.conftest import ROOT, FakeClock, JwksServer, sample_env
from tests.helpers import decide, outcome, rest, user_token

SCHEMA = ROOT / "schemas" / "corp.cedarschema"


def write_policies(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.cedar").write_text(text)
    return directory


def unschema_authorizer(env: dict[str, str], policy_dir: Path, clock: FakeClock) -> Authorizer:
    settings = Settings.from_env({**env, "CEDAR_POLICY_DIR": str(policy_dir)})
    return Authorizer(settings, Engine(load_policies(policy_dir), None), clock=clock)


def test_a_forbid_that_errors_still_denies(
    env: dict[str, str], issuer: LocalIssuer, clock: FakeClock, tmp_path: Path
) -> None:
    """Cedar skips an erroring forbid and answers Allow with an error; we answer Deny."""
    policies = write_policies(
        tmp_path,
        allow='@id("allow-all") permit (principal, action == Corp::Action::"get /anything", resource);',
        broken='@id("broken-forbid") forbid (principal, action, resource) when { principal.nope == 1 };',
    )
    authz = unschema_authorizer({**env, "CEDAR_NAMESPACE": "Corp"}, policies, clock)
    event = rest(user_token(issuer, "alice", clock.now), "GET", "/anything", "/anything")
    assert outcome(authz, event) == "Deny"
    decision = decide(authz, event)
    assert decision.decision == "Allow" and decision.determining == ("allow-all",)  # Cedar's answer
    assert "broken-forbid" in decision.errors[0] and not decision.allowed


def test_a_policy_that_does_not_parse_stops_cold_start(env: dict[str, str], tmp_path: Path) -> None:
    policies = write_policies(
        tmp_path,
        good='@id("ok") permit (principal, action, resource);',
        bad='@id("fine") permit (principal, action, resource);\n\n@id("broken")\npermit (principal, action, resource) when { 1 + };\n',
    )
    with pytest.raises(PolicyError, match=r"bad\.cedar:3: policy does not parse"):
        Authorizer.from_env({**env, "CEDAR_POLICY_DIR": str(policies)})


def test_a_policy_that_does_not_validate_stops_cold_start(
    env: dict[str, str], tmp_path: Path
) -> None:
    policies = write_policies(
        tmp_path,
        typo='// a typo in an attribute name\n@id("typo")\npermit (principal, action, resource)\n'
        'when { principal.tenantt == "acme" };\n',
    )
    with pytest.raises(PolicyError) as caught:
        Authorizer.from_env({**env, "CEDAR_POLICY_DIR": str(policies)})
    assert "typo.cedar:2" in str(caught.value) and "'typo'" in str(caught.value)
    assert "tenantt" in str(caught.value)


def test_an_unknown_action_stops_cold_start(env: dict[str, str], tmp_path: Path) -> None:
    policies = write_policies(
        tmp_path,
        x='@id("ghost") permit (principal, action == Corp::Action::"get /ghosts", resource);',
    )
    with pytest.raises(PolicyError, match="ghost"):
        Authorizer.from_env({**env, "CEDAR_POLICY_DIR": str(policies)})


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"CEDAR_POLICY_DIR": "/nonexistent"}, PolicyError, "does not exist"),
        ({"CEDAR_SCHEMA": "/nonexistent.cedarschema"}, SchemaError, "nonexistent"),
        ({"CEDAR_ENTITIES": "/nonexistent.json"}, ConfigError, "nonexistent"),
        ({"AUTH_ISSUER": ""}, ConfigError, "AUTH_ISSUER"),
        ({"AUTH_CLIENT_IDS": ""}, ConfigError, "AUTH_CLIENT_IDS"),
    ],
)
def test_bad_configuration_refuses_to_start(
    env: dict[str, str], change: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Authorizer.from_env({**env, **change})


def test_empty_policy_directory_refuses_to_start(env: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"no \*\.cedar files"):
        Authorizer.from_env({**env, "CEDAR_POLICY_DIR": str(tmp_path)})


def test_invalid_entities_refuse_to_start(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "entities.json"
    bad.write_text(
        '[{"uid": {"type": "Corp::Account", "id": "a"}, "attrs": {"tenant": 7}, "parents": []}]'
    )
    with pytest.raises(ConfigError, match=r"entities\.json"):
        Authorizer.from_env({**env, "CEDAR_ENTITIES": str(bad)})


def test_lambda_handler_never_answers_with_a_broken_configuration(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    issuer: LocalIssuer,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    write_policies(tmp_path, bad="permit (principal, action, resource) when {")
    for name, value in {**env, "CEDAR_POLICY_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler, "_authorizer", None)
    event = rest(user_token(issuer, "alice", clock.now), "GET", "/employees", "/employees")
    for _ in range(2):  # every invocation, not just the first
        with pytest.raises(PolicyError):
            handler.lambda_handler(event, None)


def _break(
    target: Any, name: str, hits: list[str] | None = None
) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        def boom(*_args: object, **_kwargs: object) -> Any:
            if hits is not None:
                hits.append(name)
            raise RuntimeError(f"{name} exploded")

        monkeypatch.setattr(target, name, boom)

    return apply


@pytest.mark.parametrize(
    "layer",
    [
        "authorizer.pdp.parse_event",
        "authorizer.pdp.bearer_token",
        "authorizer.identity.tokens.TokenVerifier.verify",
        "authorizer.gateway.routes.RouteTable.match",
        "authorizer.pdp.Authorizer._context",
        "authorizer.identity.entities.EntityMapping.context",
        "authorizer.identity.entities.EntityMapping.token_record",
        "authorizer.identity.entities.EntityMapping.principal_entities",
        "authorizer.cedar.engine.Engine.principal_part",
        "authorizer.cedar.engine.Engine.entity_set",
        "cedarpy.is_authorized_batch",
        "authorizer.pdp.Authorizer.respond",
        "authorizer.telemetry.Telemetry.decision",
    ],
)
def test_an_exception_in_any_layer_never_allows(
    monkeypatch: pytest.MonkeyPatch,
    authz: Authorizer,
    issuer: LocalIssuer,
    clock: FakeClock,
    layer: str,
) -> None:
    module_name, _, attribute = layer.rpartition(".")
    target: Any
    try:
        target = __import__(module_name, fromlist=["_"])
    except ImportError:
        owner, _, cls = module_name.rpartition(".")
        target = getattr(__import__(owner, fromlist=["_"]), cls)
    hits: list[str] = []
    _break(target, attribute, hits)(monkeypatch)
    # A token-level route (its context is the token record alone) and a record route whose
    # policies read the request's own context (the amount): each allowed when nothing breaks.
    events = [
        rest(user_token(issuer, "alice", clock.now), "GET", "/employees", "/employees"),
        rest(user_token(issuer, "pat", clock.now), "POST", "/accounts/acc-001/transfers",
             "/accounts/{accountId}/transfers", query={"amount": "1200"}),
    ]  # fmt: skip
    for event in events:
        before = len(hits)
        try:
            result = outcome(authz, event)
        except Exception:  # a 500 is a correct answer here
            continue
        if len(hits) > before:  # the broken layer was on this request's path
            assert result in ("Deny", "401")
    assert hits, f"{layer} is on neither request's path"


def test_a_request_that_does_not_fit_the_schema_is_denied(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """With request validation on, cedarpy answers NoDecision (no exception) for a context
    missing required attributes: a Deny."""
    authz = Authorizer.from_env({**env, "CEDAR_VALIDATE_REQUESTS": "true"}, clock=clock)
    monkeypatch.setattr(authz.mapping.__class__, "context", lambda *_a, **_k: {"token": {}})
    event = rest(user_token(issuer, "alice", clock.now), "GET", "/employees", "/employees")
    assert outcome(authz, event) == "Deny"
    assert decide(authz, event).decision == "NoDecision"


def test_sample_env_is_valid(issuer: LocalIssuer, jwks_server: JwksServer) -> None:
    Authorizer.from_env(sample_env(issuer, jwks_server.url))
