"""The limits a token must keep, defined once for the authorizer and the pre-token hook.

The hook enforces them when it issues a token and the authorizer when it verifies one, so a token
the hook issues is never refused by the authorizer. A limit refuses, it never truncates: a token
over a limit is refused whole (401 at the authorizer, a failed sign-in or a dropped attribute at
the hook), because a silently shortened group list or claim could turn a forbid into an Allow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Characters of the compact JWS. API Gateway caps a header near 10 KB; a real JWT is a few KB.
MAX_TOKEN_LENGTH = 8192
# Nesting of the header or payload JSON (an object in an object is depth 2).
MAX_CLAIM_DEPTH = 8
# Groups in the groups claim: each becomes a parent entity that a policy may name.
MAX_GROUPS = 200
# A claim's value sits inside the payload object, one level down: {"claim": {...}} is depth 2.
MAX_CLAIM_VALUE_DEPTH = MAX_CLAIM_DEPTH - 1
# Cedar's Long: a claim number outside it has no Cedar form (the hook emits it as text).
CEDAR_LONG = (-(2**63), 2**63 - 1)
# The claim the pre-token hook sets on a token it could not give every attribute of the user's
# item (over the token's size budget, or nested too deep): the authorizer refuses that token,
# since a forbid on a left-out attribute would not hold (limits refuse, never truncate). The
# sign-in itself goes on: the other token may be whole.
INCOMPLETE_CLAIM = "cedar_authz_incomplete"

# --- what the hook may add to a token -------------------------------------------------------
# A compact JWS is base64url(header) "." base64url(payload) "." base64url(signature), unpadded.
# The hook controls part of the payload only, so the rest is allowed for generously:
#   header: Cognito's {"kid":"<44 chars>","alg":"RS256"} is ~62 bytes; allow 128 -> 171 chars
#   signature: RS256 with Cognito's 2048-bit keys, 256 bytes -> 342 chars
#   two dots -> 2 chars
#   => 8192 - 171 - 342 - 2 = 7677 chars of payload = 7677 * 3 // 4 = 5757 bytes of JSON
#   Cognito's own claims (sub, iss, aud/client_id, token_use, scope, auth_time, iat, exp, jti,
#   origin_jti, event_id, username, email and other standard attributes), groups not included:
#   ~600-1000 bytes in practice; allow 1536
#   => 5757 - 1536 = 4221 bytes for what the hook adds: its claims, cognito:groups, its scopes.
# The default TOKEN_CLAIMS_BUDGET_BYTES (4096) fits; group names take their bytes from the same
# 4221, so a user with many groups gets fewer claims (dropped, logged), never fewer groups.
HEADER_ALLOWANCE_BYTES = 128
RS256_SIGNATURE_CHARS = 342
ISSUER_CLAIMS_ALLOWANCE_BYTES = 1536


def base64url_length(size: int) -> int:
    """Characters of ``size`` bytes in unpadded base64url (4 per 3 bytes, rounded up)."""
    return (4 * size + 2) // 3


def payload_capacity_bytes() -> int:
    """Bytes of payload JSON a token may hold and stay within ``MAX_TOKEN_LENGTH``."""
    chars = MAX_TOKEN_LENGTH - base64url_length(HEADER_ALLOWANCE_BYTES) - RS256_SIGNATURE_CHARS - 2
    return chars * 3 // 4


def added_bytes_capacity() -> int:
    """Bytes of JSON the hook may add to one token's payload (claims, groups, scopes together):
    the largest TOKEN_CLAIMS_BUDGET_BYTES a token can afford."""
    return payload_capacity_bytes() - ISSUER_CLAIMS_ALLOWANCE_BYTES


def nesting_depth(value: object) -> int:
    """JSON nesting of ``value``: 0 for a scalar, 1 for an object or array of scalars, the
    depth ``authorizer.identity.tokens`` counts for a whole payload. Iterative: no recursion
    limit on a hostile value. Sets and tuples count as arrays (they become JSON arrays)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Iterable[object] = item.values()
        elif isinstance(item, list | tuple | set | frozenset):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest
