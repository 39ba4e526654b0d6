"""Our handler against the floor, a hand-written authorizer and the naive first implementation,
and policy-count scaling: the same tokens, policies and requests, in one process."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from authorizer.gateway.events import bearer_token, parse_event
from authorizer.gateway.response import policy_allows
from authorizer.pdp import Authorizer
from authorizer.telemetry import Telemetry
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from authorizer.tooling.local.sample import ROOT, sample_environment
from authorizer.tooling.local.users import split_profile

Call = Callable[[int], object]
RECORD = ("GET", "/employees/emp-001", "/employees/{employeeId}")
NOW_MS = 1_795_000_000_000


class _Discard:
    def write(self, _text: str) -> int:
        return 0


def new_issuer() -> LocalIssuer:
    return LocalIssuer(keys=[SigningKey.rsa("bench-1")])


def make_authorizer(issuer: LocalIssuer, **overrides: str) -> Authorizer:
    jwks = json.dumps(issuer.jwks()).encode()
    env = {**sample_environment(issuer, "http://127.0.0.1/.well-known/jwks.json"), **overrides}
    authorizer = Authorizer.from_env(env, fetch=lambda _url: jwks)
    authorizer.telemetry = Telemetry(stream=_Discard())  # type: ignore[arg-type]
    return authorizer


def alice_tokens(issuer: LocalIssuer, count: int, distinct_users: bool = False) -> list[str]:
    """Alice's claims; with ``distinct_users`` every token has its own `sub` (a new user)."""
    groups, claims = split_profile("alice")
    subs = [f"alice-{n}" if distinct_users else "alice" for n in range(count)]
    return [issuer.token(sub, groups=groups, extra=claims) for sub in subs]


def event(
    token: str, method: str, path: str, template: str, now_ms: int = NOW_MS
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    return apigw.rest_request_event(method, path, template, headers=headers, now_ms=now_ms)


def allowed(authorizer: Authorizer, request: dict[str, Any]) -> bool:
    return policy_allows(authorizer.handle(request), request["methodArn"])


def handler_calls(issuer: LocalIssuer, iterations: int) -> dict[str, Call]:
    authorizer = make_authorizer(issuer)
    count = iterations + 100
    new_users = [event(t, *RECORD) for t in alice_tokens(issuer, count, distinct_users=True)]
    returning = [event(t, *RECORD) for t in alice_tokens(issuer, count)]
    token = alice_tokens(issuer, 1)[0]
    # A resource not seen before each call: the decision cache cannot answer.
    new_resources = [event(token, "GET", f"/employees/emp-{n}", RECORD[2]) for n in range(count)]
    repeated = event(token, *RECORD)
    listing = [
        event(t, "GET", "/employees", "/employees") for t in alice_tokens(issuer, count, True)
    ]
    assert allowed(authorizer, repeated) and allowed(authorizer, listing[-1])

    def run(events: list[dict[str, Any]]) -> Call:
        return lambda i: authorizer.handle(events[i])

    return {
        "handler: fresh token, new user (no cache)": run(new_users),
        "handler: fresh token, returning user": run(returning),
        "handler: known token, new resource": run(new_resources),
        "handler: repeated request": lambda _i: authorizer.handle(repeated),
        "handler: fresh token, token-level route": run(listing),
        **second_issuer_calls(issuer, iterations),
    }


HANDLER_NOTES = {
    "handler: fresh token, returning user": "same claims: its decisions are cached",
    "handler: known token, new resource": "token cache hit",
    "handler: repeated request": "decision cache hit",
    "handler: fresh token, token-level route": "every token-level route at once",
}


# --- several issuers (AUTH_ISSUERS) ------------------------------------------------------------
SECOND_ISSUER = "handler: fresh token, new user, second of two issuers"
HANDLER_NOTES[SECOND_ISSUER] = "vs the fresh-token row: iss picks keys and mapping"


def second_issuer_calls(issuer: LocalIssuer, iterations: int) -> dict[str, Call]:
    """The fresh-token, new-user row for issuer B's tokens with issuers A (``issuer``) and B
    trusted: the cost of choosing the issuer by ``iss``, read against the one-issuer row."""
    other = LocalIssuer("https://idp.example.com/realms/b", "b-client", [SigningKey.rsa("b-1")])
    trusted = [(issuer, "a"), (other, "b")]
    key_sets = {f"http://127.0.0.1/{p}/jwks": json.dumps(i.jwks()).encode() for i, p in trusted}
    entries = [{"issuer": i.issuer, "jwks_url": f"http://127.0.0.1/{p}/jwks",
                "client_ids": [i.client_id], "groups_claim": "cognito:groups",
                "entity_id_prefix": p} for i, p in trusted]  # fmt: skip
    sample = sample_environment(issuer, "")
    env = {k: v for k, v in sample.items() if k.startswith("CEDAR_")}
    authorizer = Authorizer.from_env({**env, "AUTH_ISSUERS": json.dumps(entries)},
                                     fetch=key_sets.__getitem__)  # fmt: skip
    authorizer.telemetry = Telemetry(stream=_Discard())  # type: ignore[arg-type]
    events = [event(t, *RECORD) for t in alice_tokens(other, iterations + 100, True)]
    assert allowed(authorizer, events[-1])
    return {SECOND_ISSUER: lambda i: authorizer.handle(events[i])}


def baseline_calls(issuer: LocalIssuer, iterations: int) -> dict[str, Call]:
    """The same decision without our pipeline. Each call verifies a new user's token and adds
    that user to the pre-parsed entity store, as any authorizer must; the request itself is the
    one our mapping builds, handed to cedarpy directly."""
    authorizer = make_authorizer(issuer)
    tokens = alice_tokens(issuer, iterations + 100, distinct_users=True)
    public = issuer.keys[0].private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    engine, mapping = authorizer.engine, authorizer.mapping
    request = parse_event(event(tokens[0], *RECORD))
    caller = authorizer.verify(bearer_token(request))
    match = authorizer.routes.match(
        request.method, request.path, request.route, request.path_parameters
    )
    assert match is not None and engine.model is not None
    action = engine.model.action(match.route.action_type, match.route.action_id)
    context = mapping.context(caller.token.claims, request, match, NOW_MS / 1000, action)
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in tokens]
    cedar_requests = [
        {
            "principal": mapping.principal_uid(c),
            "action": match.route.action_uid,
            "resource": mapping.resource_uid(match),
            "context": context,
        }
        for c in claims
    ]
    deltas = [
        json.dumps([e for e in mapping.principal_entities(c) if not engine.knows(e["uid"])])
        for c in claims
    ]
    policies_text = "\n".join(engine.policies.files.values())
    schema_text = (ROOT / "schemas" / "corp.cedarschema").read_text()
    store = json.loads((ROOT / "entities" / "corp.json").read_text())
    entity_strings = [json.dumps(store + json.loads(d)) for d in deltas]
    first = engine.entities.with_added_json_str(deltas[0])
    assert cedarpy.is_authorized(cedar_requests[0], engine.policy_set, first, engine.schema).allowed

    def floor(i: int) -> None:
        signing_input, _, signature = tokens[i].rpartition(".")
        public.verify(
            base64.urlsafe_b64decode(signature + "=="),
            signing_input.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        entities = engine.entities.with_added_json_str(deltas[i])
        cedarpy.is_authorized(cedar_requests[i], engine.policy_set, entities, engine.schema)

    def pyjwt_handles(i: int) -> None:
        jwt.decode(
            tokens[i],
            public,
            algorithms=["RS256"],
            issuer=issuer.issuer,
            options={"verify_aud": False},
        )
        entities = engine.entities.with_added_json_str(deltas[i])
        cedarpy.is_authorized(cedar_requests[i], engine.policy_set, entities, engine.schema)

    def naive(i: int) -> None:
        jwt.decode(
            tokens[i],
            public,
            algorithms=["RS256"],
            issuer=issuer.issuer,
            options={"verify_aud": False},
        )
        cedarpy.is_authorized(cedar_requests[i], policies_text, entity_strings[i], schema_text)

    return {
        "floor: OpenSSL RS256 verify + cedarpy handles": floor,
        "baseline: PyJWT decode + cedarpy handles": pyjwt_handles,
        "naive: PyJWT decode + cedarpy with strings": naive,
    }


SCALING_SCHEMA = """
namespace Corp {
  entity Application;
  entity UserGroup in [UserGroup];
  entity User in [UserGroup] = { "tenant"?: String, "permissions"?: Set<String> };
  type Ctx = { "token": { "scope"?: Set<String> }, "request": { "method": String } };
  action "get /things", "get /other", "get /else", "get /more"
    appliesTo { principal: User, resource: Application, context: Ctx };
}
"""
RELEVANT = (
    '@id("relevant")\npermit (principal, action == Corp::Action::"get /things", resource) when '
    '{ context.request.method == "GET" && context.token has scope && '
    'context.token.scope.contains("employee:read") };'
)


def scaling_calls(issuer: LocalIssuer, counts: list[int], scratch: Path) -> dict[str, Call]:
    """N policies, one relevant to the requested action (the rest name three other actions);
    the handler with a cached token and no decision cache, with and without indexing. The
    relevant policy reads the request, so the route is decided per request, not in a batch.
    The policy files are written under ``scratch``."""
    calls: dict[str, Call] = {}
    token = alice_tokens(issuer, 1)[0]
    others = ["get /other", "get /else", "get /more"]
    schema = scratch / "s.cedarschema"
    schema.write_text(SCALING_SCHEMA)
    for count in counts:
        policies = scratch / f"p{count}"
        policies.mkdir()
        lines = [RELEVANT] + [
            f'@id("p{n}")\npermit (principal, action == Corp::Action::"{others[n % 3]}", '
            f'resource) when {{ principal has tenant && principal.tenant == "t{n}" }};'
            for n in range(count - 1)
        ]
        (policies / "all.cedar").write_text("\n".join(lines))
        env = {
            "CEDAR_POLICY_DIR": str(policies),
            "CEDAR_SCHEMA": str(schema),
            "CEDAR_ENTITIES": "none",
            "DECISION_CACHE_TTL": "0",
        }
        request = event(token, "GET", "/things", "/things")
        for indexed in (True, False):
            authorizer = make_authorizer(issuer, **env)
            authorizer.engine.indexed = indexed
            assert allowed(authorizer, request)
            label = f"{count:>6} policies, {'indexed' if indexed else 'all evaluated'}"
            calls[label] = lambda _i, a=authorizer, r=request: a.handle(r)
    return calls
