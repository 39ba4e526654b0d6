"""The cache keys: every part of what Cedar sees moves the key, and nothing else does.

A key that stays the same while something Cedar sees changes would serve one caller another's
decision: each test below changes one input and asserts the key changes with it.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer import cache_keys as keys

# Alice's claims; the per-token ones are left out of the caller's key (entities.per_token_claims).
ALICE = {"sub": "alice", "iss": "https://idp.example", "tenant": "acme", "groups": ["readers"],
         "scope": "docs:read", "iat": 1, "exp": 2, "jti": "j1"}  # fmt: skip
PER_TOKEN = frozenset({"iat", "exp", "jti"})
ACTION = {"type": "App::Action", "id": "get /docs/{docId}"}
DOC = {"type": "App::Doc", "id": "d1"}


def caller(**changes: Any) -> str:
    return keys.claims_key({**ALICE, **changes}, PER_TOKEN)


def key(**changes: Any) -> keys.DecisionKey:
    parts: dict[str, Any] = {
        "current": keys.generation("v1", 0),
        "caller": caller(),
        "action": ACTION,
        "resource": DOC,
        "context": keys.context_part({"amount": 5, "request": {"path": "/docs/d1"}}, {"amount"}),
    }
    parts.update(changes)
    return keys.decision_key(**parts)


def test_the_same_claims_give_the_same_key_whatever_their_order_and_token() -> None:
    reordered = dict(reversed(list(ALICE.items())))
    assert key() == key(caller=keys.claims_key(reordered, PER_TOKEN))
    assert key() == key(caller=caller(iat=100, exp=200, jti="j2"))  # a refreshed token


def test_every_claim_the_caller_is_made_of_moves_the_key() -> None:
    """The principal's entities and its token records are made from these claims: any one of
    them changed may change what Cedar sees, so the key changes."""
    base = key()
    for changed in [
        {"sub": "mallory"},  # another principal
        {"iss": "https://other.example"},  # another issuer: its prefix, its groups claim
        {"tenant": "globex"},  # another attribute
        {"groups": []},  # a group less
        {"groups": ["readers", "x"]},  # a group more
        {"scope": "docs:write"},  # another token record
        {"email": "a@example.com"},  # a claim more
    ]:
        assert key(caller=caller(**changed)) != base, changed
    without = {k: v for k, v in ALICE.items() if k != "tenant"}
    assert key(caller=keys.claims_key(without, PER_TOKEN)) != base  # a claim less


def test_the_generation_action_resource_and_context_move_the_key() -> None:
    base = key()
    assert key(current=keys.generation("v2", 0)) != base  # a new policy version
    assert key(current=keys.generation("v1", 1)) != base  # entities invalidated
    assert key(action={**ACTION, "id": "get /docs"}) != base
    assert key(resource={**DOC, "id": "d2"}) != base
    assert key(resource={**DOC, "type": "App::Other"}) != base
    assert key(context=keys.context_part({"amount": 6}, {"amount"})) != base
    assert key(context=None) != base


def test_only_the_context_attributes_the_policies_read_are_keyed() -> None:
    a = {"amount": 5, "request": {"path": "/a"}}
    b = {"amount": 5, "request": {"path": "/b"}}
    assert keys.context_part(a, {"amount"}) == keys.context_part(b, {"amount"})
    # Read, and absent on one side: absent is a value too.
    assert keys.context_part(a, {"amount", "limit"}) == {"amount": 5, "limit": None}
    # None: the policies read the context whole (or validation checks it all).
    assert key(context=keys.context_part(a, None)) != key(context=keys.context_part(b, None))


def test_the_batch_key_is_the_callers_in_a_generation() -> None:
    assert keys.batch_key("v1/0", caller()) != keys.batch_key("v2/0", caller())
    assert keys.batch_key("v1/0", caller()) != keys.batch_key("v1/0", caller(scope="x"))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
)
def test_different_claims_never_share_a_key(a: dict[str, Any], b: dict[str, Any]) -> None:
    key_a = key(caller=caller(extra=a))
    key_b = key(caller=caller(extra=b))
    assert (key_a == key_b) == (a == b)


# --- the texts the request path serialises once --------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_an_entity_text_is_the_text_a_digest_is_made_of(value: Any) -> None:
    import hashlib  # noqa: PLC0415

    text = keys.entity_text(value)
    assert json.loads(text) == value
    if value is not None:
        assert keys.digest(value) == hashlib.sha256(text.encode()).hexdigest()


def test_the_claims_key_leaves_out_only_what_it_is_told() -> None:
    claims = {"sub": "u1", "iss": "https://idp", "iat": 1, "exp": 2, "groups": ["a"]}
    per_token = frozenset({"iat", "exp"})
    refreshed = {**claims, "iat": 100, "exp": 200}
    assert keys.claims_key(claims, per_token) == keys.claims_key(refreshed, per_token)
    for changed in ({"sub": "u2"}, {"groups": ["a", "b"]}, {"iss": "https://other"}):
        assert keys.claims_key({**claims, **changed}, per_token) != keys.claims_key(
            claims, per_token
        )
    assert keys.claims_key(claims, frozenset()) != keys.claims_key(
        refreshed, frozenset()
    )  # nothing left out: every claim counts
