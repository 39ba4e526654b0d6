"""Lambda entry point: ``authorizer.handler.lambda_handler``.

Thin on purpose: the authorizer is built once per container (cold start) and reused. If it
cannot be built (bad policies, missing settings, no good policy bundle) every invocation raises:
API Gateway answers 500, which it never caches, and the error is in the log; the next invocation
tries again. Never a fallback decision.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from authorizer.config import Settings, warn_of_unread_entities
from authorizer.identity.fetch import Fetch
from authorizer.identity.prefetch import key_sets_ahead

# The issuers' key sets are fetched from here on, while the imports below (cryptography,
# cedarpy, the pipeline) and the policies load: the first request finds its keys arrived, or on
# their way, instead of starting a round trip to the issuer after everything else.
_key_sets: Fetch = key_sets_ahead()

from authorizer.pdp import Authorizer  # noqa: E402  # after the fetch has started

if TYPE_CHECKING:  # loaded only when a bundle is configured: the packaged folder never needs it
    from authorizer.live import LiveAuthorizer

logging.getLogger().setLevel(logging.INFO)


class Handles(Protocol):
    def handle(self, event: object) -> dict[str, Any]: ...


_authorizer: Handles | None = None
# Full passes of the cyclic garbage collector: after this many passes over its younger
# generations (Python's default is 10).
FULL_COLLECTION_AFTER = 1000


def authorizer_from_env(
    environ: Mapping[str, str] | None = None,
    fetch: Fetch | None = None,
    clock: Callable[[], float] = time.time,
) -> Authorizer | LiveAuthorizer:
    """Over policy bundles when CEDAR_POLICY_BUNDLE or an issuer's policy_bundle is set (then
    ``authorizer.live``), else over the packaged policy folder. ``fetch``: the key sets'
    (default: fetched ahead since this module loaded)."""
    fetch = _key_sets if fetch is None else fetch
    settings = Settings.from_env(environ)
    warn_of_unread_entities(os.environ if environ is None else environ, settings)
    if settings.uses_bundles:
        from authorizer.live import LiveAuthorizer  # noqa: PLC0415

        return LiveAuthorizer(settings, fetch, clock)
    return Authorizer.from_settings(settings, fetch, clock)


def get_authorizer() -> Handles:
    global _authorizer  # noqa: PLW0603  # one per container, by design
    if _authorizer is None:
        _authorizer = authorizer_from_env()
        quiet_collector()
    return _authorizer


def quiet_collector() -> None:
    """The request path makes no reference cycles (``tests/test_gc.py`` counts them): its
    garbage is freed by reference counting, and the cyclic collector's full passes only walk
    the caches, ~180 ms each with 10,000 cached callers, once every few thousand new users
    (measured: 2,500). So what cold start built is frozen out of every pass, and full passes
    are made a hundred times rarer. This process's, not the library's, to decide: set here."""
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return get_authorizer().handle(event)
