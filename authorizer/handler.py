"""Lambda entry point: ``authorizer.handler.lambda_handler``.

Thin on purpose: the authorizer is built once per container (cold start) and reused. If it
cannot be built (bad policies, missing settings) every invocation raises: API Gateway answers
500, which it never caches, and the error is in the log. Never a fallback decision.
"""

from __future__ import annotations

import logging
from typing import Any

from authorizer.live import Handles, authorizer_from_env

logging.getLogger().setLevel(logging.INFO)
_authorizer: Handles | None = None


def get_authorizer() -> Handles:
    """The packaged policies' authorizer, or the policy bundles' (CEDAR_POLICY_BUNDLE)."""
    global _authorizer  # noqa: PLW0603  # one per container, by design
    if _authorizer is None:
        _authorizer = authorizer_from_env()
    return _authorizer


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return get_authorizer().handle(event)
