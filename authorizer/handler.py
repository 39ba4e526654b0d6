"""Lambda entry point: ``authorizer.handler.lambda_handler``.

Thin on purpose: the authorizer is built once per container (cold start) and reused. If it
cannot be built (bad policies, missing settings) every invocation raises: API Gateway answers
500, which it never caches, and the error is in the log. Never a fallback decision.
"""

from __future__ import annotations

import logging
from typing import Any

from authorizer.pdp import Authorizer

logging.getLogger().setLevel(logging.INFO)
_authorizer: Authorizer | None = None


def get_authorizer() -> Authorizer:
    global _authorizer  # noqa: PLW0603  # one per container, by design
    if _authorizer is None:
        _authorizer = Authorizer.from_env()
    return _authorizer


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return get_authorizer().handle(event)
