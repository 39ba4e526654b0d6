"""What the policies can depend on, read from their Cedar JSON form at cold start (pure).

- Which policies can apply to an action (the action scope): the engine evaluates only those,
  so latency stays flat as the policy set grows. Cedar never evaluates the conditions of a
  policy whose scope does not match, so leaving such policies out changes no decision, no
  determining policy and no error.
- Which policies read the context beyond ``context.token``: a route whose policies read only
  the token and whose resource is the Application decides the same for every request with that
  token, so API Gateway may cache the answer by token alone (docs/architecture.md, Caching).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Uid = tuple[str, str]  # (type, id)

TOKEN_ONLY_CONTEXT = frozenset({"token"})


def action_scope_matches(
    scope: Mapping[str, Any], action: Uid, ancestors: frozenset[Uid] | None
) -> bool:
    """Whether a policy's action scope can match ``action``; ``ancestors`` are its action groups,
    None when unknown (no schema). Unknown shapes and unknown groups count as a match: including
    a policy is always safe, leaving one out is not."""
    op = scope.get("op")
    if op == "All":
        return True
    named = [scope["entity"]] if "entity" in scope else list(scope.get("entities", []))
    uids = {(e.get("type"), e.get("id")) for e in named if isinstance(e, Mapping)}
    if op == "==":
        return action in uids
    if op == "in":
        return ancestors is None or action in uids or bool(uids.intersection(ancestors))
    return True


def context_reads(policy: Mapping[str, Any]) -> frozenset[str] | None:
    """The top-level context attributes a policy reads; None when it reads the context whole
    (``context`` passed around, compared, or indexed in a way we cannot name)."""
    found: set[str] = set()
    stack: list[Any] = [policy.get("conditions", [])]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, Mapping):
            if node.get("Var") == "context":
                return None
            access = _context_access(node)
            if access is not None:
                found.add(access)
                continue
            stack.extend(node.values())
    return frozenset(found)


def _context_access(node: Mapping[str, Any]) -> str | None:
    for op in (".", "has"):
        inner = node.get(op)
        if isinstance(inner, Mapping) and inner.get("left") == {"Var": "context"}:
            attr = inner.get("attr")
            return attr if isinstance(attr, str) else None
    return None


def reads_only_token(policies: Iterable[Mapping[str, Any]]) -> bool:
    for policy in policies:
        reads = context_reads(policy)
        if reads is None or not reads <= TOKEN_ONLY_CONTEXT:
            return False
    return True


def ancestors_of(action: Uid, member_of: Mapping[Uid, Iterable[Uid]]) -> frozenset[Uid]:
    """Transitive action groups, cycle-safe."""
    seen: set[Uid] = set()
    stack = list(member_of.get(action, ()))
    while stack:
        group = stack.pop()
        if group not in seen:
            seen.add(group)
            stack.extend(member_of.get(group, ()))
    return frozenset(seen)
