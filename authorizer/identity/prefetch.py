"""The trusted issuers' key sets, fetched while the Lambda loads its code.

A cold start's first request needs its issuer's key set, and fetching it is a round trip to the
issuer (with TLS, tens of milliseconds to Cognito) that the request would otherwise wait on after
everything else is loaded. So the Lambda entry point (``authorizer.handler``) starts each
trusted issuer's key-set fetch in a thread before it imports the rest (cryptography,
cedarpy, the pipeline, then the policies are loaded), and the round trip overlaps that work.

Nothing else changes: the key cache (``authorizer.identity.jwks``) asks for the key set when it
needs it, as always, through ``KeySetsAhead``: its first call for each URL takes the body fetched
ahead when that fetch succeeded less than ``MAX_AGE_S`` ago, and fetches otherwise. A prefetch
that failed, or is too old, costs nothing but the time it ran in the background.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from authorizer.config import Settings
from authorizer.identity.fetch import FETCH_DEADLINE_S, Fetch, http_fetch

logger = logging.getLogger(__name__)

# A key set fetched ahead serves the key cache's first fetch only this long after it arrived
# (a function initialised long before its first request, as provisioned concurrency does,
# fetches its keys when it needs them, not from an old copy).
MAX_AGE_S = 60.0
Start = Callable[[Callable[[], None]], object]


def in_thread(run: Callable[[], None]) -> None:
    """Runs ``run`` in a daemon thread: a process never waits on it to exit."""
    threading.Thread(target=run, name="key-set-prefetch", daemon=True).start()


class _Ahead:
    """One URL's fetch under way: its body, or None once it has failed."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.body: bytes | None = None
        self.at = 0.0


class KeySetsAhead:
    """A ``Fetch``: ``urls`` are fetched from now on (by ``start``: a thread), and the first call
    for each one takes that body, waiting for it if it is still on its way. Every other call is
    ``fetch``'s own."""

    def __init__(
        self,
        urls: Iterable[str],
        fetch: Fetch = http_fetch,
        clock: Callable[[], float] = time.monotonic,
        start: Start = in_thread,
        wait_s: float = FETCH_DEADLINE_S + 1.0,  # http_fetch gives up after its deadline
    ) -> None:
        self._fetch, self._clock, self._wait_s = fetch, clock, wait_s
        self._lock = threading.Lock()
        self._ahead: dict[str, _Ahead] = {}
        for url in dict.fromkeys(urls):
            ahead = self._ahead[url] = _Ahead()
            start(functools.partial(self._run, url, ahead))

    def _run(self, url: str, ahead: _Ahead) -> None:
        try:
            ahead.body, ahead.at = self._fetch(url), self._clock()
        except Exception as error:  # the key cache's own fetch tries again, and reports it
            logger.debug("key set fetched ahead from %s failed: %r", url, error)
        finally:
            ahead.done.set()

    def __call__(self, url: str) -> bytes:
        with self._lock:
            ahead = self._ahead.pop(url, None)
        if ahead is not None and ahead.done.wait(self._wait_s):
            body = ahead.body
            if body is not None and self._clock() - ahead.at <= MAX_AGE_S:
                return body
        return self._fetch(url)

    @property
    def urls(self) -> tuple[str, ...]:
        """The URLs whose fetch ahead no call has taken yet."""
        with self._lock:
            return tuple(self._ahead)


def key_sets_ahead(environ: Mapping[str, str] | None = None, start: Start = in_thread) -> Fetch:
    """``http_fetch``, with the first fetch of every trusted issuer's key set (its ``jwks_url``,
    or its OIDC discovery document) started now. When the settings cannot be read, plain
    ``http_fetch``: building the authorizer reads them again and reports why."""
    try:
        settings = Settings.from_env(environ)
    except Exception:  # reported where the authorizer is built (at import: never raise)
        return http_fetch
    urls = [issuer.jwks_url or issuer.discovery_url for issuer in settings.trusted_issuers]
    return KeySetsAhead(urls, start=start)
