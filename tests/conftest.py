"""Shared fixtures: real keys, a real JWKS served over HTTP on loopback, the sample app's
configuration, and an injectable clock. Nothing here mocks PyJWT or cedarpy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from authorizer.sdk.client import Authorizer  # the pipeline and the backend API
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from authorizer.tooling.local.sample import sample_environment

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples" / "events"  # published by others: see its README
NOW = 1_795_000_000.0  # 2026-11-18T... UTC, a Wednesday; tests never read the wall clock


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class JwksServer:
    """Serves ``document`` at /.well-known/jwks.json and, when set, ``discovery`` at
    /.well-known/openid-configuration (an OIDC issuer at ``base``); ``fail`` makes it answer 503.
    With ``release`` set, each answer waits for that event (``arrived`` is set on each request):
    an issuer that holds its answer while the client goes on.
    """

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.discovery: dict[str, Any] | None = None
        self.fail = False
        self.hits = 0
        self.release: threading.Event | None = None
        self.arrived = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                server.arrived.set()
                if server.release is not None:
                    server.release.wait(30)
                served = {"/.well-known/jwks.json": server.document}
                if server.discovery is not None:
                    served["/.well-known/openid-configuration"] = server.discovery
                if server.fail or self.path not in served:
                    self.send_response(503 if server.fail else 404)
                    self.end_headers()
                    return
                body = json.dumps(served[self.path]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.url = f"{self.base}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.rsa("test-rsa-1")


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.ec("test-ec-1")


@pytest.fixture
def issuer(rsa_key: SigningKey, ec_key: SigningKey) -> LocalIssuer:
    return LocalIssuer(
        issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TESTPOOL",
        client_id="testclient",
        keys=[rsa_key, ec_key],
    )


@pytest.fixture(scope="session")
def _jwks_server_process() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def jwks_server(_jwks_server_process: JwksServer, issuer: LocalIssuer) -> JwksServer:
    """One loopback server for the session, reset for every test."""
    server = _jwks_server_process
    server.document, server.fail, server.hits = issuer.jwks(), False, 0
    server.discovery, server.release, server.arrived = None, None, threading.Event()
    return server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def sample_env(issuer: LocalIssuer, jwks_url: str, **overrides: str) -> dict[str, str]:
    """The sample application's configuration (the one `serve` and `invoke` use)."""
    return {**sample_environment(issuer, jwks_url), **overrides}


@pytest.fixture
def env(issuer: LocalIssuer, jwks_server: JwksServer) -> dict[str, str]:
    return sample_env(issuer, jwks_server.url)


@pytest.fixture
def authz(env: dict[str, str], clock: FakeClock) -> Authorizer:
    return Authorizer.from_env(env, clock=clock)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on loopback (DynamoDB, S3...) for the session: tests keep to their own
    tables and buckets."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415  # only the tests that use it

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
