"""The in-process cache keys, as pure functions: what a cached decision is keyed on.

A decision is a pure function of what Cedar is given (policies, entities, request), so a key
holds exactly that and nothing about the token itself: the policy version and store generation,
a digest of the caller's entities (and, where that is all the route's policies read of the
context, of its ``context.token`` record), the action, the resource, and the context attributes
the policies read. A key that leaves out something Cedar sees would serve one caller another's
decision: ``tests/test_cache_keys.py`` checks that every part moves the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

DecisionKey = tuple[str, str, str, str, str, str]
# ``json.dumps(value, sort_keys=True, default=str)``, without building an encoder per call.
_SORTED = json.JSONEncoder(sort_keys=True, default=str)
BatchKey = tuple[str, str]


def digest(value: object) -> str:
    """SHA-256 of the value's canonical JSON (sorted keys); "" for None (nothing to key on)."""
    if value is None:
        return ""
    return hashlib.sha256(_SORTED.encode(value).encode()).hexdigest()


def claims_key(claims: Mapping[str, Any], left_out: Collection[str]) -> str:
    """The callers-by-claims key (``pdp.Authorizer.verify``): the ``digest`` of the claims but
    those ``left_out`` (``entities.per_token_claims``). A digest, so the cache holds 64
    characters per caller, not a copy of its claims."""
    return digest({k: v for k, v in claims.items() if k not in left_out})


def generation(policy_version: str, store_generation: int) -> str:
    """The policies' version and the entity store's generation (bumped when entities are
    invalidated): a change to either makes every earlier key unreachable."""
    return f"{policy_version}/{store_generation}"


def caller_digest(entities: Sequence[Mapping[str, Any]]) -> str:
    """What Cedar sees of the caller: its principal and group entities."""
    return caller_digest_of([entity_text(e) for e in entities])


def caller_with_token(caller: str, token_record: Any) -> str:
    """The caller, and the ``context.token`` record a route's policies read (they read nothing
    else of the context)."""
    return caller_with_token_text(caller, entity_text(token_record))


def caller_with_tokens(caller: str, token_records: Sequence[Any]) -> str:
    """The caller, and the token record of every token-level route, in route order: the key of
    the batch that answers all of them."""
    return caller_with_tokens_texts(caller, [entity_text(r) for r in token_records])


# The same digests from values serialised once already (the request path serialises each entity
# and token record once, and hands the text to Cedar too): ``json.dumps`` of a list is its
# items' ``json.dumps`` joined by ", " in brackets, so these are ``digest`` of the same list.


def entity_text(value: object) -> str:
    """A value as ``digest`` serialises it (sorted keys); Cedar reads this text as well."""
    return _SORTED.encode(value)


def caller_digest_of(entity_texts: Sequence[str]) -> str:
    """``caller_digest`` of entities given as their ``entity_text``."""
    return _sha256("[" + ", ".join(entity_texts) + "]")


def caller_with_token_text(caller: str, token_text: str) -> str:
    """``caller_with_token`` of a token record given as its ``entity_text``."""
    return _sha256(f"[{json.dumps(caller)}, {token_text}]")


def caller_with_tokens_texts(caller: str, token_texts: Sequence[str]) -> str:
    """``caller_with_tokens`` of token records given as their ``entity_text``."""
    return _sha256(f"[{json.dumps(caller)}, [{', '.join(token_texts)}]]")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def context_part(context: Mapping[str, Any], reads: Collection[str] | None) -> object:
    """The context attributes the route's policies read (``reads``; None: the whole context)."""
    if reads is None:
        return context
    return {name: context.get(name) for name in sorted(reads)}


def decision_key(
    current: str,
    caller: str,
    action: Mapping[str, str],
    resource: Mapping[str, str],
    context: object,
) -> DecisionKey:
    """One route's decision: ``generation``, the caller's digest, the action, the resource and
    the ``context_part`` (None where the policies read no context but the token)."""
    return (current, caller, action["id"], resource["type"], resource["id"], digest(context))


def batch_key(current: str, caller: str) -> BatchKey:
    """The token-level batch: ``generation`` and ``caller_with_tokens``."""
    return (current, caller)
