"""Our handler against the floor, a hand-written authorizer and the naive first implementation,
and policy-count scaling: the same tokens, policies and requests, in one process."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import cedarpy
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from authorizer.gateway.events import parse_event
from authorizer.gateway.response import policy_allows
from authorizer.pdp import Authorizer
from authorizer.telemetry import Telemetry
from authorizer.tooling.local import apigw
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from authorizer.tooling.local.sample import ROOT, sample_environment
from authorizer.tooling.local.users import split_profile

Call = Callable[[int], object]
RECORD = ("GET", "/employees/emp-001", "/employees/{employeeId}")
LISTING = ("GET", "/employees", "/employees")  # a token-level route
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


FRESH = "handler: fresh token, new user, record route"
RETURNING = "handler: fresh token, returning user, record route"
NEW_RESOURCE = "handler: known token, new resource"
HIT = "handler: repeated request, record route"
FRESH_TOKEN_LEVEL = "handler: fresh token, new user, token-level route"
HIT_TOKEN_LEVEL = "handler: repeated request, token-level route"


def handler_calls(issuer: LocalIssuer, iterations: int) -> dict[str, Call]:
    """The Lambda handler, each row on events built before the measurement."""
    authorizer = make_authorizer(issuer)
    count = iterations + 100
    new_users = [event(t, *RECORD) for t in alice_tokens(issuer, count, distinct_users=True)]
    returning = [event(t, *RECORD) for t in alice_tokens(issuer, count)]
    token = alice_tokens(issuer, 1)[0]
    # A resource not seen before each call: the decision cache cannot answer.
    new_resources = [event(token, "GET", f"/employees/emp-{n}", RECORD[2]) for n in range(count)]
    repeated = event(token, *RECORD)
    listing = [event(t, *LISTING) for t in alice_tokens(issuer, count, True)]
    repeated_listing = event(token, *LISTING)
    assert allowed(authorizer, repeated) and allowed(authorizer, listing[-1])
    assert allowed(authorizer, repeated_listing)

    def run(events: list[dict[str, Any]]) -> Call:
        return lambda i: authorizer.handle(events[i])

    return {
        FRESH: run(new_users),
        RETURNING: run(returning),
        NEW_RESOURCE: run(new_resources),
        HIT: lambda _i: authorizer.handle(repeated),
        FRESH_TOKEN_LEVEL: run(listing),
        HIT_TOKEN_LEVEL: lambda _i: authorizer.handle(repeated_listing),
        **second_issuer_calls(issuer, iterations),
    }


HANDLER_NOTES = {
    FRESH: "1 Cedar call; the caller's entities added to the resource's slice",
    RETURNING: "same claims: verify, then a decision-cache hit; 0 Cedar calls",
    NEW_RESOURCE: "token-cache hit, 1 Cedar call",
    HIT: "token and decision cache hits; 0 Cedar calls",
    FRESH_TOKEN_LEVEL: "1 Cedar call answering the token-level routes (GET /employees)",
    HIT_TOKEN_LEVEL: "token and batch cache hits; 0 Cedar calls",
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


FLOOR = "floor: record route (verify + add user + 1 evaluation)"
FLOOR_TOKEN_LEVEL = "floor: token-level route (verify + add user + 1 evaluation)"
BASELINE = "baseline: PyJWT decode + add user + 1 evaluation"
NAIVE = "naive: PyJWT decode + cedarpy with strings"
BASELINE_NOTES = {
    FLOOR: "OpenSSL RS256; only the context the route reads",
    FLOOR_TOKEN_LEVEL: "the same, GET /employees's one action",
    BASELINE: "the floor's request, PyJWT's decode",
    NAIVE: "policies, entities and schema parsed per call",
}


class _Floor(NamedTuple):
    """What a hand-written cedarpy authorizer has ready before a new user's request: the token,
    its signing input and signature, the user's entities as JSON, the request as Cedar takes
    it."""

    signing_input: bytes
    signature: bytes
    added: str
    request: dict[str, Any]


def _floor_inputs(
    authorizer: Authorizer, tokens: list[str], route: tuple[str, str, str]
) -> list[_Floor]:
    """Per token: the request our mapping builds for ``route``, with only the context
    attributes the route's policies read (what the handler gives Cedar), and the user's
    entities the store lacks. Built before the measurement, as constant inputs."""
    engine, mapping = authorizer.engine, authorizer.mapping
    request = parse_event(event(tokens[0], *route))
    match = authorizer.routes.match(
        request.method, request.path, request.route, request.path_parameters
    )
    assert match is not None and engine.model is not None
    action = engine.model.action(match.route.action_type, match.route.action_id)
    reads = authorizer.route_reads(match.route)
    inputs = []
    for token in tokens:
        claims = jwt.decode(token, options={"verify_signature": False})
        signing_input, _, signature = token.rpartition(".")
        context = mapping.context(claims, request, match, NOW_MS / 1000, action, None, reads)
        cedar_request = {"principal": mapping.principal_uid(claims),
                         "action": match.route.action_uid,
                         "resource": mapping.resource_uid(match), "context": context}  # fmt: skip
        added = [e for e in mapping.principal_entities(claims) if not engine.knows(e["uid"])]
        inputs.append(_Floor(signing_input.encode(), base64.urlsafe_b64decode(signature + "=="),
                             json.dumps(added), cedar_request))  # fmt: skip
    return inputs


def baseline_calls(issuer: LocalIssuer, iterations: int) -> dict[str, Call]:
    """The same decision without our pipeline, for a new user each call.

    The floor is the least work any cedarpy authorizer must do for that answer: one OpenSSL
    RS256 verify, the user's entities added to the pre-parsed store, one ``is_authorized`` on
    the pre-parsed policy set with only the context the route's policies read, no request
    validation, no claim checks, no cache, no response. The baseline decodes with PyJWT
    instead (claims checked); naive parses policies, entities and schema per call."""
    authorizer = make_authorizer(issuer)
    tokens = alice_tokens(issuer, iterations + 100, distinct_users=True)
    public = issuer.keys[0].private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    engine = authorizer.engine
    store = engine.entities  # the JSON entity file, parsed once
    policy_set = engine.policies.policy_set()  # every policy, parsed once
    record = _floor_inputs(authorizer, tokens, RECORD)
    listing = _floor_inputs(authorizer, tokens, LISTING)
    for inputs in (record, listing):  # the floor answers what the handler answers
        first = store.with_added_json_str(inputs[0].added)
        assert cedarpy.is_authorized(inputs[0].request, policy_set, first).allowed
    policies_text = "\n".join(engine.policies.files.values())
    schema_text = (ROOT / "schemas" / "corp.cedarschema").read_text()
    file = json.loads((ROOT / "entities" / "corp.json").read_text())
    entity_strings = [json.dumps(file + json.loads(r.added)) for r in record]

    def pyjwt(i: int) -> None:
        jwt.decode(tokens[i], public, algorithms=["RS256"], issuer=issuer.issuer,
                   options={"verify_aud": False})  # fmt: skip
        entities = store.with_added_json_str(record[i].added)
        cedarpy.is_authorized(record[i].request, policy_set, entities)

    def naive(i: int) -> None:
        jwt.decode(tokens[i], public, algorithms=["RS256"], issuer=issuer.issuer,
                   options={"verify_aud": False})  # fmt: skip
        cedarpy.is_authorized(record[i].request, policies_text, entity_strings[i], schema_text)

    return {FLOOR: floor_call(authorizer, public, record),
            FLOOR_TOKEN_LEVEL: floor_call(authorizer, public, listing), BASELINE: pyjwt,
            NAIVE: naive}  # fmt: skip


def floor_call(authorizer: Authorizer, public: rsa.RSAPublicKey, inputs: list[_Floor]) -> Call:
    """The floor on ``inputs`` (``_floor_inputs``): the signature verified with OpenSSL, the
    user's entities added to the store's pre-parsed handle, one evaluation on the pre-parsed
    policy set."""
    store = authorizer.engine.entities  # the JSON entity file, parsed once
    policy_set = authorizer.engine.policies.policy_set()  # every policy, parsed once
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def call(i: int) -> None:
        item = inputs[i]
        public.verify(item.signature, item.signing_input, pkcs1, sha256)
        entities = store.with_added_json_str(item.added)
        cedarpy.is_authorized(item.request, policy_set, entities)

    return call


def targets(by: dict[str, float]) -> dict[str, tuple[float, str]]:
    """This module's targets: ratios of rows measured in turns."""
    return {
        "fresh token, new user, record route / its floor": (by[FRESH] / by[FLOOR], "<= 1.3"),
        "fresh token, new user, token-level route / its floor": (
            by[FRESH_TOKEN_LEVEL] / by[FLOOR_TOKEN_LEVEL], "<= 1.6"),
        "repeated request / fresh token, record route": (by[HIT] / by[FRESH], "<= 0.1"),
        "repeated request / fresh token, token-level route": (
            by[HIT_TOKEN_LEVEL] / by[FRESH_TOKEN_LEVEL], "<= 0.1"),
    }  # fmt: skip
