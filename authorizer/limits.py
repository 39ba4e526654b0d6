"""The limits a token must keep, defined once for the authorizer and the pre-token hook.

The hook enforces them when it issues a token and the authorizer when it verifies one, so a token
the hook issues is never refused by the authorizer. A limit refuses, it never truncates: a token
over a limit is refused whole (401 at the authorizer, a failed sign-in or a dropped attribute at
the hook), because a silently shortened group list or claim could turn a forbid into an Allow.
"""

from __future__ import annotations

# Characters of the compact JWS. API Gateway caps a header near 10 KB; a real JWT is a few KB.
MAX_TOKEN_LENGTH = 8192
# Nesting of the header or payload JSON (an object in an object is depth 2).
MAX_CLAIM_DEPTH = 8
# Groups in the groups claim: each becomes a parent entity that a policy may name.
MAX_GROUPS = 200
