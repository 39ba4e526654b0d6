"""Our handler against the floor, the naive first implementation and policy-count scaling, on the
same tokens, policies and requests, in one process."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import Any

import cedarpy
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from authorizer.events import bearer_token, parse_event
from authorizer.local import apigw
from authorizer.local.issuer import LocalIssuer, SigningKey
from authorizer.local.sample import ROOT, sample_environment
from authorizer.local.users import split_profile
from authorizer.pdp import Authorizer
from authorizer.telemetry import Telemetry
from bench.timing import Row, measure

RECORD = ("GET", "/employees/emp-001", "/employees/{employeeId}")


class _Discard:
    def write(self, _text: str) -> int:
        return 0


def make_authorizer(issuer: LocalIssuer, **overrides: str) -> Authorizer:
    jwks = json.dumps(issuer.jwks()).encode()
    env = {**sample_environment(issuer, "http://127.0.0.1/.well-known/jwks.json"), **overrides}
    authorizer = Authorizer.from_env(env, fetch=lambda _url: jwks)
    authorizer.telemetry = Telemetry(stream=_Discard())  # type: ignore[arg-type]
    return authorizer


def alice_tokens(issuer: LocalIssuer, count: int) -> list[str]:
    groups, claims = split_profile("alice")
    return [issuer.token("alice", groups=groups, extra=claims) for _ in range(count)]


def event(
    token: str, method: str, path: str, template: str, now_ms: int = 1_795_000_000_000
) -> dict[str, Any]:
    return apigw.rest_request_event(
        method, path, template, headers={"Authorization": f"Bearer {token}"}, now_ms=now_ms
    )


def handler_rows(issuer: LocalIssuer, iterations: int) -> list[Row]:
    authorizer = make_authorizer(issuer)
    tokens = alice_tokens(issuer, iterations + 100)
    fresh = [event(t, *RECORD) for t in tokens]
    token = tokens[0]
    # A new request each call: the request time is in the context, so no decision cache hit.
    new_requests = [
        event(token, *RECORD, now_ms=1_795_000_000_000 + i) for i in range(iterations + 100)
    ]
    repeated = event(token, *RECORD)
    listing = [
        event(t, "GET", "/employees", "/employees") for t in alice_tokens(issuer, iterations + 100)
    ]
    assert authorizer.handle(repeated)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    return [
        measure(
            "handler: fresh token (no cache)", lambda i: authorizer.handle(fresh[i]), iterations
        ),
        measure(
            "handler: known token, new request",
            lambda i: authorizer.handle(new_requests[i]),
            iterations,
            note="token cache hit",
        ),  # fmt: skip
        measure(
            "handler: repeated request",
            lambda _i: authorizer.handle(repeated),
            iterations,
            note="decision cache hit",
        ),  # fmt: skip
        measure(
            "handler: fresh token, token-level route",
            lambda i: authorizer.handle(listing[i]),
            iterations,
            note="all token-level routes in one batch",
        ),  # fmt: skip
    ]


def baseline_rows(issuer: LocalIssuer, iterations: int) -> list[Row]:
    """The same decision without us: what a user would write first, and the floor."""
    authorizer = make_authorizer(issuer)
    tokens = alice_tokens(issuer, iterations + 100)
    key = issuer.keys[0]
    public = key.private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    # The request our mapping builds, then handed to cedarpy directly.
    request = parse_event(event(tokens[0], *RECORD))
    verified = authorizer.verify(bearer_token(request))
    match = authorizer.routes.match(
        request.method, request.path, request.route, request.path_parameters
    )
    assert match is not None
    cedar_request = {
        "principal": authorizer.mapping.principal_uid(verified.claims),
        "action": match.route.action_uid,
        "resource": authorizer.mapping.resource_uid(match),
        "context": authorizer.mapping.context(verified.claims, request, match, 1_795_000_000.0,
                                              authorizer.engine.model.action(*(match.route.action_uid.values()))
                                              if authorizer.engine.model else None),
    }  # fmt: skip
    engine = authorizer.engine
    entities = engine.entities_with(authorizer.mapping.principal_entities(verified.claims))
    policies_text = "\n".join(engine.policies.files.values())
    schema_text = (ROOT / "schemas" / "corp.cedarschema").read_text()
    entity_list = json.loads((ROOT / "entities" / "corp.json").read_text())
    entity_list += authorizer.mapping.principal_entities(verified.claims)
    entities_json = json.dumps(entity_list)
    assert cedarpy.is_authorized(cedar_request, engine.policy_set, entities, engine.schema).allowed

    def floor(i: int) -> None:
        signing_input, _, signature = tokens[i].rpartition(".")
        public.verify(base64.urlsafe_b64decode(signature + "=="), signing_input.encode(), padding.PKCS1v15(),
                      hashes.SHA256())  # fmt: skip
        cedarpy.is_authorized(cedar_request, engine.policy_set, entities, engine.schema)

    def pyjwt_handles(i: int) -> None:
        jwt.decode(
            tokens[i],
            public,
            algorithms=["RS256"],
            issuer=issuer.issuer,
            options={"verify_aud": False},
        )
        cedarpy.is_authorized(cedar_request, engine.policy_set, entities, engine.schema)

    def naive(i: int) -> None:
        jwt.decode(
            tokens[i],
            public,
            algorithms=["RS256"],
            issuer=issuer.issuer,
            options={"verify_aud": False},
        )
        cedarpy.is_authorized(cedar_request, policies_text, entities_json, schema_text)

    return [
        measure("floor: OpenSSL RS256 verify + cedarpy handles", floor, iterations),
        measure("baseline: PyJWT decode + cedarpy handles", pyjwt_handles, iterations),
        measure("naive: PyJWT decode + cedarpy with strings", naive, iterations),
    ]


SCALING_SCHEMA = """
namespace Corp {
  entity Application;
  entity UserGroup in [UserGroup];
  entity User in [UserGroup] = { "tenant"?: String, "permissions"?: Set<String> };
  type Ctx = { "token": { "scope"?: Set<String> }, "request": { "method": String } };
  action "get /things", "get /other", "get /else", "get /more" appliesTo { principal: User, resource: Application, context: Ctx };
}
"""


def scaling_rows(issuer: LocalIssuer, counts: list[int], iterations: int) -> list[Row]:
    """N policies, one of them relevant to the requested action; latency with and without
    indexing, through the whole handler with a cached token (the per-decision cost)."""
    rows = []
    token = alice_tokens(issuer, 1)[0]
    with tempfile.TemporaryDirectory() as scratch:
        schema = Path(scratch) / "s.cedarschema"
        schema.write_text(SCALING_SCHEMA)
        for count in counts:
            policies = Path(scratch) / f"p{count}"
            policies.mkdir()
            # The relevant policy reads the request, so /things is decided per request (no batch).
            lines = ['@id("relevant")\npermit (principal, action == Corp::Action::"get /things", resource) '
                     'when { context.request.method == "GET" && context.token has scope && '
                     'context.token.scope.contains("employee:read") };']  # fmt: skip
            others = ["get /other", "get /else", "get /more"]
            lines += [
                f'@id("p{n}")\npermit (principal, action == Corp::Action::"{others[n % 3]}", resource) '
                f'when {{ principal has tenant && principal.tenant == "t{n}" }};'
                for n in range(count - 1)
            ]
            (policies / "all.cedar").write_text("\n".join(lines))
            env = {"CEDAR_POLICY_DIR": str(policies), "CEDAR_SCHEMA": str(schema), "CEDAR_ENTITIES": "",
                   "DECISION_CACHE_TTL": "0"}  # fmt: skip
            for indexed in (True, False):
                authorizer = make_authorizer(issuer, **env)
                authorizer.engine.indexed = indexed
                requests = [event(token, "GET", "/things", "/things", now_ms=1_795_000_000_000 + i)
                            for i in range(iterations + 50)]  # fmt: skip
                assert (
                    authorizer.handle(requests[0])["policyDocument"]["Statement"][0]["Effect"]
                    == "Allow"
                )
                label = f"{count:>6} policies, {'indexed' if indexed else 'all policies'}"
                rows.append(
                    measure(label, lambda i, a=authorizer, r=requests: a.handle(r[i]), iterations)
                )
    return rows


def new_issuer() -> LocalIssuer:
    return LocalIssuer(keys=[SigningKey.rsa("bench-1")])
