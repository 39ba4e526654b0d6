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
BatchKey = tuple[str, str]


def digest(value: object) -> str:
    """SHA-256 of the value's canonical JSON (sorted keys); "" for None (nothing to key on)."""
    if value is None:
        return ""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def generation(policy_version: str, store_generation: int) -> str:
    """The policies' version and the entity store's generation (bumped when entities are
    invalidated): a change to either makes every earlier key unreachable."""
    return f"{policy_version}/{store_generation}"


def caller_digest(entities: Sequence[Mapping[str, Any]]) -> str:
    """What Cedar sees of the caller: its principal and group entities."""
    return digest(list(entities))


def caller_with_token(caller: str, token_record: Any) -> str:
    """The caller, and the ``context.token`` record a route's policies read (they read nothing
    else of the context)."""
    return digest([caller, token_record])


def caller_with_tokens(caller: str, token_records: Sequence[Any]) -> str:
    """The caller, and the token record of every token-level route, in route order: the key of
    the batch that answers all of them."""
    return digest([caller, list(token_records)])


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
