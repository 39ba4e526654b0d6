"""The cache keys: every part of what Cedar sees moves the key, and nothing else does.

A key that stays the same while something Cedar sees changes would serve one caller another's
decision: each test below changes one input and asserts the key changes with it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer import cache_keys as keys

ALICE = [
    {"uid": {"type": "App::User", "id": "alice"}, "attrs": {"tenant": "acme"},
     "parents": [{"type": "App::UserGroup", "id": "readers"}]},
    {"uid": {"type": "App::UserGroup", "id": "readers"}, "attrs": {}, "parents": []},
]  # fmt: skip
ACTION = {"type": "App::Action", "id": "get /docs/{docId}"}
DOC = {"type": "App::Doc", "id": "d1"}


def key(**changes: Any) -> keys.DecisionKey:
    parts: dict[str, Any] = {
        "current": keys.generation("v1", 0),
        "caller": keys.caller_digest(ALICE),
        "action": ACTION,
        "resource": DOC,
        "context": keys.context_part({"amount": 5, "request": {"path": "/docs/d1"}}, {"amount"}),
    }
    parts.update(changes)
    return keys.decision_key(**parts)


def altered(path: list[Any], value: Any) -> list[dict[str, Any]]:
    import copy  # noqa: PLC0415

    entities = copy.deepcopy(ALICE)
    node: Any = entities
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return entities


def test_the_same_inputs_give_the_same_key_whatever_the_order_of_their_keys() -> None:
    reordered = [{"parents": ALICE[0]["parents"], "attrs": {"tenant": "acme"},
                  "uid": ALICE[0]["uid"]}, ALICE[1]]  # fmt: skip
    assert key() == key(caller=keys.caller_digest(reordered))


def test_every_part_of_the_caller_moves_the_key() -> None:
    base = key()
    changed_callers = [
        altered([0, "uid", "id"], "mallory"),  # another principal
        altered([0, "uid", "type"], "Other::User"),  # another type, same id
        altered([0, "attrs", "tenant"], "globex"),  # another tenant
        altered([0, "attrs"], {}),  # an attribute less
        altered([0, "parents"], []),  # a group less
        altered([0, "parents"], [*ALICE[0]["parents"], {"type": "App::UserGroup", "id": "x"}]),
        ALICE[:1],  # the group entity missing
    ]
    for entities in changed_callers:
        assert key(caller=keys.caller_digest(entities)) != base, entities


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


def test_token_records_move_the_route_and_batch_digests() -> None:
    caller = keys.caller_digest(ALICE)
    scoped = keys.caller_with_token(caller, {"scope": ["docs:read"]})
    assert scoped != keys.caller_with_token(caller, {"scope": ["docs:write"]})
    assert scoped != caller
    batch = keys.caller_with_tokens(caller, [{"scope": ["a"]}, {"scope": ["b"]}])
    assert batch != keys.caller_with_tokens(caller, [{"scope": ["b"]}, {"scope": ["a"]}])
    assert batch != keys.caller_with_tokens(keys.caller_digest(ALICE[:1]), [{"scope": ["a"]},
                                                                           {"scope": ["b"]}])  # fmt: skip
    assert keys.batch_key("v1/0", batch) != keys.batch_key("v2/0", batch)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
)
def test_different_attributes_never_share_a_key(a: dict[str, Any], b: dict[str, Any]) -> None:
    key_a = key(caller=keys.caller_digest(altered([0, "attrs"], a)))
    key_b = key(caller=keys.caller_digest(altered([0, "attrs"], b)))
    assert (key_a == key_b) == (a == b)


# --- the digests from serialised texts are the digests of the values ----------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=6), JSON, max_size=4), max_size=4), JSON)
def test_the_text_forms_give_the_keys_of_the_values(entities: list[Any], record: Any) -> None:
    """The request path keys on texts it serialised once; the keys are exactly those of
    ``digest`` over the values (what every test above checks), so nothing is keyed on less."""
    caller = keys.digest(list(entities))
    texts = [keys.entity_text(e) for e in entities]
    assert keys.caller_digest(entities) == keys.caller_digest_of(texts) == caller
    assert keys.caller_with_token(caller, record) == keys.digest([caller, record])
    assert keys.caller_with_token_text(caller, keys.entity_text(record)) == keys.digest(
        [caller, record]
    )
    records = [record, entities]
    assert keys.caller_with_tokens(caller, records) == keys.digest([caller, records])


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
