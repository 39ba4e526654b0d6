"""bench/lean.py: the lean row can only be a lower bound if it answers as the handler does and
refuses what the handler refuses; a lean row that skipped a check would flatter the floor."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from bench import authorizer_bench as ours
from bench.lean import Refused, Trusted, lean_authorizer


@pytest.fixture(scope="module")
def setup() -> tuple[Any, Any, Any]:
    issuer = ours.new_issuer()
    authorizer = ours.make_authorizer(issuer)
    return issuer, authorizer, lean_authorizer(authorizer, Trusted.of(issuer))


def test_answers_as_the_handler(setup: tuple[Any, Any, Any]) -> None:
    issuer, authorizer, lean = setup
    for token in ours.alice_tokens(issuer, 3, distinct_users=True):
        request = ours.event(token, *ours.RECORD)
        assert lean(request) == authorizer.handle(request)
    # Without the employee:read scope the route's only permit does not apply: a Deny.
    claims = {"tenant": "acme", "department": "engineering", "permissions": []}
    denied = ours.event(issuer.token("bob", scope="openid", extra=claims), *ours.RECORD)
    answer = lean(denied)
    assert answer == authorizer.handle(denied)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_refuses_what_the_handler_refuses(setup: tuple[Any, Any, Any]) -> None:
    issuer, _, lean = setup
    token = ours.alice_tokens(issuer, 1)[0]
    head, payload, signature = token.split(".")
    other = ours.LocalIssuer(keys=[ours.SigningKey.rsa(issuer.keys[0].kid)])
    foreign = other.token("alice", groups=["engineering"])
    expired = issuer.token("alice", groups=["engineering"], now=time.time() - 2 * 86400)
    # Another signature in canonical form ("A" last: the unused bits zero). One in 256 tokens'
    # signatures end with "AA" already: then "BA", or the "forgery" would be the signature.
    tampered = "AA" if signature[-2:] != "AA" else "BA"
    for bad, error, reason in [
        (f"{head}.{payload}.{signature[:-2]}{tampered}", InvalidSignature, None),
        (foreign, InvalidSignature, None),
        (expired, Refused, "times"),
    ]:
        with pytest.raises(error, match=reason):
            lean(ours.event(bad, *ours.RECORD))
