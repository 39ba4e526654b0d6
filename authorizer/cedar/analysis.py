"""What the policies can depend on, read from their Cedar JSON form (pure).

- Which context attributes a policy reads: a route whose policies read only ``context.token``
  and whose resource is the Application decides the same for every request with that token, so
  API Gateway may cache the answer by token alone (docs/architecture.md, Caching); the decision
  cache keys on the attributes read. The policy index (``index.py``) keeps this per bucket.
- An action's groups, for the index's action keys. (Which policies can apply to a request is
  the index's: ``authorizer.cedar.index``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Uid = tuple[str, str]  # (type, id)

TOKEN_ONLY_CONTEXT = frozenset({"token"})
# Not an attribute: in a policy's reads beside "request" when it may read the request's query
# (`context.request.query`, or `context.request` whole). A query parameter given twice is
# refused only then: ambiguous, it could decide; unread, it cannot.
REQUEST_QUERY = "request.query"
# Likewise when it may read the request's source address. A REST TOKEN event carries neither a
# query nor a source address: a route whose policies may read them is not decided on one.
REQUEST_SOURCE_IP = "request.sourceIp"


def context_reads(policy: Mapping[str, Any]) -> frozenset[str] | None:
    """The top-level context attributes a policy reads; None when it reads the context whole
    (``context`` passed around, compared, or indexed in a way we cannot name). With "request",
    ``REQUEST_QUERY`` / ``REQUEST_SOURCE_IP`` when it may read the request's query / source."""
    found: set[str] = set()
    stack: list[Any] = [policy.get("conditions", [])]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, Mapping):
            if node.get("Var") == "context":
                return None
            inner = _request_attribute(node)
            if inner is not None:  # context.request.<attr>: the query, the source, or other
                found.add("request")
                if inner == "query":
                    found.add(REQUEST_QUERY)
                elif inner == "sourceIp":
                    found.add(REQUEST_SOURCE_IP)
                continue
            access = _context_access(node)
            if access is not None:
                found.add(access)
                if access == "request":  # the request record whole: all of it
                    found.update((REQUEST_QUERY, REQUEST_SOURCE_IP))
                continue
            stack.extend(node.values())
    return frozenset(found)


def _request_attribute(node: Mapping[str, Any]) -> str | None:
    """The attribute of ``context.request`` that ``node`` reads (`.attr` or `has attr`), if it
    reads one ("query" for a name we cannot see: it may be the query)."""
    for op in (".", "has"):
        inner = node.get(op)
        if isinstance(inner, Mapping):
            left = inner.get("left")
            if isinstance(left, Mapping) and _context_access(left) == "request":
                attr = inner.get("attr")
                return attr if isinstance(attr, str) else "query"
    return None


def _context_access(node: Mapping[str, Any]) -> str | None:
    for op in (".", "has"):
        inner = node.get(op)
        if isinstance(inner, Mapping) and inner.get("left") == {"Var": "context"}:
            attr = inner.get("attr")
            return attr if isinstance(attr, str) else None
    return None


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
