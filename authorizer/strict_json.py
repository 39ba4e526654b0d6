"""JSON objects read strictly: a key given twice is refused."""

from __future__ import annotations

from typing import Any


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook`` for what we read (tokens, AUTH_ISSUERS, links):
    a key given twice is refused, never the last one taken (the second of two `client_ids`, a
    link's second `template_id`, a token's second `exp` would silently win)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        names = [name for name, _ in pairs]
        twice = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"{str(twice)[:64]!r} is given twice in one object")
    return found
