"""The HTTP GET of a key set (or any small document an issuer publishes): within one deadline
for connect, TLS, headers and body, following no redirect, bounded in size. Apart from the key
cache (``authorizer.identity.jwks``) so that it loads without cryptography and cedarpy: the
Lambda starts its first key fetch before those are imported (``authorizer.identity.prefetch``).
"""

from __future__ import annotations

import functools
import http.client
import io
import selectors
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from authorizer.errors import DependencyError, NotPublished
from authorizer.issuer_settings import require_https

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

Fetch = Callable[[str], bytes]
MAX_JWKS_BYTES = 64 * 1024
# Answers saying the URL publishes nothing to this client (not a failure to answer).
_NOT_PUBLISHED = frozenset(
    {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND, HTTPStatus.GONE}
)
FETCH_DEADLINE_S = 3.0  # the whole fetch: connect, TLS, headers and body


def http_fetch(
    url: str, deadline: float = FETCH_DEADLINE_S, max_bytes: int = MAX_JWKS_BYTES
) -> bytes:
    """GET within ``deadline`` seconds in all (connect, TLS, headers, body: a peer that trickles
    bytes cannot hold it longer), no redirect followed, at most ``max_bytes``. Any failure is a
    ``DependencyError``."""
    require_https(url, "JWKS URL")
    ends_at = time.monotonic() + deadline
    opener = urllib.request.build_opener(
        _RefuseRedirects(), _DeadlineHTTPHandler(ends_at), _DeadlineHTTPSHandler(ends_at)
    )
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310  # scheme checked
    try:
        with opener.open(request, timeout=_remaining(ends_at)) as response:
            body: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as error:
        error.close()
        if 300 <= error.code < 400:  # the key set is where it was configured, or nowhere
            raise DependencyError(f"JWKS endpoint redirected ({error.code}): {url}") from None
        failure = NotPublished if error.code in _NOT_PUBLISHED else DependencyError
        raise failure(f"JWKS fetch from {url} failed: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as error:
        raise DependencyError(f"JWKS fetch from {url} failed: {error!r}") from error
    if len(body) > max_bytes:
        raise DependencyError(f"JWKS at {url} is larger than {max_bytes} bytes")
    return body


def _remaining(ends_at: float) -> float:
    left = ends_at - time.monotonic()
    if left <= 0:
        raise TimeoutError("the JWKS fetch deadline passed")
    return left


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Declines every redirect, so a 3xx ends as an ``HTTPError`` (urllib would follow it, and
    a redirect to another host could hand us someone else's keys under our kids)."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> urllib.request.Request | None:
        return None


class _DeadlineReader(io.RawIOBase):
    """The socket's reads, each allowed only the time left before the deadline."""

    def __init__(self, sock: socket.socket, ends_at: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # holds a reference, as makefile does
        self._ends_at = ends_at

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        self._sock.settimeout(_remaining(self._ends_at))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _deadline_response(ends_at: float) -> type[http.client.HTTPResponse]:
    """An ``HTTPResponse`` whose status line, headers and body are read under the deadline."""

    class DeadlineResponse(http.client.HTTPResponse):
        def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            super().__init__(sock, *args, **kwargs)
            self.fp.close()  # nothing read yet: swap the reader for a deadline-bound one
            self.fp = io.BufferedReader(_DeadlineReader(sock, ends_at))

    return DeadlineResponse


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, ends_at: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ends_at = ends_at
        self.response_class = _deadline_response(ends_at)

    def connect(self) -> None:
        self.timeout = _remaining(self._ends_at)
        super().connect()


class _DeadlineHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, ends_at: float, context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(*args, context=context, **kwargs)
        self._ends_at = ends_at
        self._tls = context
        self.response_class = _deadline_response(ends_at)

    def connect(self) -> None:
        self.timeout = _remaining(self._ends_at)
        http.client.HTTPConnection.connect(self)  # TCP, and a proxy's CONNECT tunnel if any
        server_hostname = getattr(self, "_tunnel_host", None) or self.host
        tls = self._tls.wrap_socket(
            self.sock, server_hostname=server_hostname, do_handshake_on_connect=False
        )
        _handshake(tls, self._ends_at)
        self.sock = tls


def _handshake(tls: ssl.SSLSocket, ends_at: float) -> None:
    """The TLS handshake in non-blocking steps, each waiting at most the time left: a blocking
    handshake's timeout applies per read, so a peer sending a byte at a time could hold it."""
    tls.setblocking(False)
    with selectors.DefaultSelector() as selector:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                events = selectors.EVENT_READ
            except ssl.SSLWantWriteError:
                events = selectors.EVENT_WRITE
            selector.register(tls, events)
            ready = selector.select(_remaining(ends_at))
            selector.unregister(tls)
            if not ready:
                raise TimeoutError("the JWKS fetch deadline passed during the TLS handshake")
    tls.settimeout(_remaining(ends_at))


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, ends_at: float) -> None:
        super().__init__()
        self._ends_at = ends_at

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_DeadlineHTTPConnection, ends_at=self._ends_at)
        return self.do_open(connection, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, ends_at: float) -> None:
        super().__init__()
        self._ends_at = ends_at

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(
            _DeadlineHTTPSConnection, ends_at=self._ends_at, context=_tls_context()
        )
        return self.do_open(connection, req)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The default verifying context (as http.client builds it), made on the first fetch."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context
