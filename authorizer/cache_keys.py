"""The in-process cache keys, as pure functions: what a cached decision is keyed on.

A decision is a pure function of what Cedar is given (policies, entities, request), so a key
holds exactly that and nothing about the token itself: the policy version and store generation,
the caller's ``claims_key`` (its claims but the per-token ones nothing reads: its entities and
its ``context.token`` records are made from those claims alone, so equal keys mean equal
entities and records), the action, the resource, and the context attributes the policies read
beyond the token. A key that leaves out something Cedar sees would serve one caller another's
decision: ``tests/test_cache_keys.py`` checks that every part moves the key, and
``tests/test_returning_callers.py`` that callers keyed so decide as ones that share nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
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


def entity_text(value: object) -> str:
    """A value as ``digest`` serialises it (sorted keys): the request path serialises a caller's
    token record once, and Cedar reads this text."""
    return _SORTED.encode(value)


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
    """One route's decision: ``generation``, the caller's ``claims_key``, the action, the
    resource and the ``context_part`` (None where the policies read no context but the token)."""
    return (current, caller, action["id"], resource["type"], resource["id"], digest(context))


def batch_key(current: str, caller: str) -> BatchKey:
    """The token-level batch (whose policies read nothing but the caller): ``generation`` and
    the caller's ``claims_key``."""
    return (current, caller)
