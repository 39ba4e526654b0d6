"""The lean row: the least Python a complete authorizer runs for the sample application's
record route, written as one function with everything it can know beforehand precomputed.

It answers what the handler answers, from the same REST REQUEST events, and refuses what the
handler must refuse (the checks that keep a token from being forged or replayed past its
`exp`): the header's alg and kid, a canonical signature verified with OpenSSL, a payload
without duplicate keys, `iss`, `exp`, `iat`, `sub`, `token_use` and `client_id`. It builds the
principal and its groups from the claims as the sample schema types them, adds them to the
pre-parsed store, evaluates once on the pre-parsed policy set with only the context the route's
policies read, and returns the IAM answer with the context forwarded to the backend, and writes
a one-line JSON log of the decision.

What it leaves out, and the handler does not: every other route and event kind, any other
schema or claim mapping, the policy index (11 policies: nothing to index), caches, request
limits, several issuers, telemetry metrics, error paths beyond a refusal. So it is a lower bound
for a Python authorizer, not a design: it tells how much of the distance between the handler
and the floor (``authorizer_bench.baseline_calls``) any complete Python authorizer pays.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import cedarpy
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from authorizer.pdp import Authorizer
from bench.authorizer_bench import (
    RECORD,
    Call,
    LocalIssuer,
    _Discard,
    alice_tokens,
    event,
    make_authorizer,
)

LEAN = "lean: one function, the checks and the answer (record route)"
LEAN_NOTE = "1 Cedar call; a lower bound for a Python authorizer (bench/lean.py)"


class Refused(Exception):
    """A 401: the token is not accepted."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("duplicate key")
    return found


class Trusted(NamedTuple):
    """The one issuer the lean row trusts, and its one key."""

    issuer: str
    client_id: str
    kid: str
    public_key: rsa.RSAPublicKey

    @classmethod
    def of(cls, issuer: LocalIssuer) -> Trusted:
        public = issuer.keys[0].private.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        return cls(issuer.issuer, issuer.client_id, issuer.keys[0].kid, public)


Handler = Callable[[dict[str, Any]], dict[str, Any]]


def lean_authorizer(authorizer: Authorizer, trusted: Trusted) -> Handler:
    """The lean handler over the sample application's files as ``authorizer`` loaded them."""
    engine, mapping = authorizer.engine, authorizer.mapping
    store = engine.entities  # parsed once
    policy_set = engine.policies.policy_set()
    keys = {trusted.kid: trusted.public_key}
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates)
    user, group = mapping.user_type, mapping.group_type
    known = engine.known_uids  # the store's entities: a group it lacks is added
    action_type = mapping.action_type
    routes = {(r.method, r.template): r.action_id for r in authorizer.routes.routes}
    headers: dict[str, tuple[str, str]] = {}
    issuer, clients = trusted.issuer, {trusted.client_id}
    version = engine.version
    sink = _Discard()

    def b64(segment: str) -> bytes:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))

    def verify(token: str) -> dict[str, Any]:
        head, payload_segment, signature = token.split(".")
        found = headers.get(head)
        if found is None:
            header = decoder.decode(b64(head).decode())
            alg, kid = header.get("alg"), header.get("kid")
            if alg != "RS256" or not isinstance(kid, str) or "jku" in header:
                raise Refused("header")
            found = headers[head] = (alg, kid)
        key = keys.get(found[1])
        if key is None:
            raise Refused("kid")
        raw = b64(signature)
        if base64.urlsafe_b64encode(raw).rstrip(b"=") != signature.encode():
            raise Refused("signature form")
        signing_input = token[: len(head) + len(payload_segment) + 1].encode()
        key.verify(raw, signing_input, pkcs1, sha256)  # InvalidSignature: refused
        claims = decoder.decode(b64(payload_segment).decode())
        now = time.time()
        exp, iat = claims.get("exp"), claims.get("iat")
        if claims.get("iss") != issuer:
            raise Refused("iss")
        if type(exp) not in (int, float) or exp <= now or type(iat) not in (int, float):
            raise Refused("times")
        if iat > now + 60:
            raise Refused("iat")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Refused("sub")
        if claims.get("token_use") != "access" or claims.get("client_id") not in clients:
            raise Refused("use or client")
        return claims

    def strings(value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Refused("not a set of strings")
        return value

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        header = request["headers"]
        authorization = header.get("Authorization") or header.get("authorization") or ""
        if not authorization.startswith("Bearer "):
            raise Refused("no token")
        claims = verify(authorization[7:])
        action_id = routes[(request["httpMethod"], request["resource"])]
        resource_id = request["pathParameters"]["employeeId"]
        sub = claims["sub"]
        tenant, department = claims.get("tenant"), claims.get("department")
        if not isinstance(tenant, str) or not isinstance(department, str):
            raise Refused("attributes")
        principal = {"type": user, "id": sub}
        entity = {"uid": principal,
                  "attrs": {"tenant": tenant, "department": department,
                            "permissions": strings(claims.get("permissions", []))},
                  "parents": [{"type": group, "id": g}
                              for g in strings(claims.get("cognito:groups", []))]}  # fmt: skip
        added = [entity] + [{"uid": g, "attrs": {}, "parents": []} for g in entity["parents"]
                            if (group, g["id"]) not in known]  # fmt: skip
        entities = store.with_added_json_str(json.dumps(added))
        scope = claims.get("scope")
        token = {"token_use": "access", "client_id": claims["client_id"],
                 "scope": scope.split() if isinstance(scope, str) else [],
                 "username": claims.get("username")}  # fmt: skip
        cedar_request = {"principal": principal,
                         "action": {"type": action_type, "id": action_id},
                         "resource": {"type": "Corp::Employee", "id": resource_id},
                         "context": json.dumps({"token": token})}  # fmt: skip
        result = cedarpy.is_authorized(cedar_request, policy_set, entities)
        allowed = result.allowed
        determining = ",".join(result.diagnostics.reasons)
        sink.write(json.dumps({"outcome": "Allow" if allowed else "Deny", "principal": sub,
                               "action": action_id, "policies": determining,
                               "latency_ms": (time.perf_counter() - started) * 1000}))  # fmt: skip
        return {
            "principalId": sub,
            "policyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": "execute-api:Invoke", "Effect": "Allow" if allowed else "Deny",
                "Resource": [request["methodArn"]]}]},
            "context": {"principal": sub, "sub": sub, "policyVersion": version,
                        "tenant": tenant, "action": action_id,
                        "determiningPolicies": determining},
        }  # fmt: skip

    return handle


def lean_calls(issuer: LocalIssuer, iterations: int) -> dict[str, Call]:
    """The lean row on new users' fresh tokens, checked against the handler's answers (so it
    cannot be fast by deciding something else)."""
    ours = make_authorizer(issuer)
    handle = lean_authorizer(ours, Trusted.of(issuer))
    events = [event(t, *RECORD) for t in alice_tokens(issuer, iterations + 100, True)]
    for sample in (events[0], events[-1]):
        assert handle(sample) == ours.handle(sample), "the lean row answers as the handler does"
    forged = dict(events[0], headers={"Authorization": events[0]["headers"]["Authorization"][:-4]
                                      + "AAAA"})  # fmt: skip
    try:
        handle(forged)
    except (InvalidSignature, Refused):
        pass  # refused, as it must be
    else:
        raise AssertionError("the lean row accepted a forged signature")
    return {LEAN: lambda i: handle(events[i])}
