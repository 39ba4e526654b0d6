"""The key-set fetch against hostile or broken issuers, over real loopback servers and with real
keys: unusable members beside the good key, redirects to an attacker's key set, bodies, headers
and TLS handshakes trickled a byte at a time, and RSA keys shorter than 2048 bits."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

from authorizer.errors import DependencyError, InvalidToken
from authorizer.identity import fetch
from authorizer.identity.fetch import http_fetch
from authorizer.identity.jwks import JwksCache, parse_jwks
from authorizer.pdp import Authorizer
from authorizer.tooling.local.issuer import LocalIssuer, SigningKey
from tests.conftest import FakeClock, JwksServer, sample_env
from tests.helpers import outcome, rest, user_token

Respond = Callable[[BaseHTTPRequestHandler], None]
TRICKLE_S = 0.05  # one byte every 50 ms
DEADLINE_S = 0.5


class LoopbackServer:
    """An HTTP server on 127.0.0.1 answering every GET with ``respond(handler)``."""

    def __init__(self, respond: Respond) -> None:
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                respond(self)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.url = self.base + "/.well-known/jwks.json"
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def wrap(self, context: ssl.SSLContext) -> None:
        """Serve TLS from now on (each connection's handshake is done in its handler thread)."""
        self._httpd.socket = context.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def servers() -> Iterator[list[LoopbackServer]]:
    """Servers made by the test, closed after it."""
    made: list[LoopbackServer] = []
    yield made
    for server in made:
        server.close()


def serving(servers: list[LoopbackServer], respond: Respond) -> LoopbackServer:
    server = LoopbackServer(respond)
    servers.append(server)
    return server


def json_body(document: object) -> Respond:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps(document).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def trickle(stream: Any, data: bytes) -> None:
    """Write ``data`` a byte at a time until it is all out or the client has gone."""
    try:
        for byte in data:
            stream.write(bytes([byte]))
            stream.flush()
            time.sleep(TRICKLE_S)  # the server's pace, not the test waiting on a clock
    except OSError:
        pass


def with_kid(key: SigningKey, kid: str) -> dict[str, Any]:
    return {**key.public_jwk(), "kid": kid}


# --- 1. one bad member must not lock everyone out ---------------------------------------------

GOOD = SigningKey.rsa("good")
_N, _E = GOOD.public_jwk()["n"], GOOD.public_jwk()["e"]
_EC = SigningKey.ec("ec").public_jwk()
UNUSABLE: dict[str, object] = {
    "alg none on RSA material": {"kid": "none", "kty": "RSA", "alg": "none", "n": _N, "e": _E},
    "alg none alone": {"kid": "none2", "alg": "none"},
    "HS256 oct": {"kid": "hmac", "kty": "oct", "alg": "HS256", "k": "c2VjcmV0"},
    "HS256 on RSA material": {"kid": "hs", "kty": "RSA", "alg": "HS256", "n": _N, "e": _E},
    "RS256 declared on oct": {"kid": "oct", "kty": "oct", "alg": "RS256", "k": "c2VjcmV0"},
    "PS256": {"kid": "ps", "kty": "RSA", "alg": "PS256", "n": _N, "e": _E},
    "ES256 on RSA": {"kid": "mixed", "kty": "RSA", "alg": "ES256", "n": _N, "e": _E},
    "RSA without n": {"kid": "no-n", "kty": "RSA", "e": _E},
    "RSA without e": {"kid": "no-e", "kty": "RSA", "n": _N},
    "bad base64": {"kid": "b64", "kty": "RSA", "n": "!!not base64!!", "e": _E},
    "n a number": {"kid": "num", "kty": "RSA", "n": 12345, "e": _E},
    "n nested": {"kid": "nest", "kty": "RSA", "n": {"n": [_N]}, "e": _E},
    "even exponent": {"kid": "even", "kty": "RSA", "n": _N, "e": "Ag"},
    "EC P-521": {**_EC, "kid": "p521", "crv": "P-521"},
    "EC P-384 ES384": {**_EC, "kid": "p384", "crv": "P-384", "alg": "ES384"},
    "EC secp256k1": {**_EC, "kid": "k1", "crv": "secp256k1"},
    "EC point off the curve": {**_EC, "kid": "off", "y": _EC["x"]},
    "OKP": {
        "kid": "ed",
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    },
    "kty a list": {"kid": "list", "kty": ["RSA"], "n": _N, "e": _E},
    "alg a dict": {"kid": "algd", "kty": "RSA", "alg": {"RS256": 1}, "n": _N, "e": _E},
    "use enc": {"kid": "enc", "kty": "RSA", "use": "enc", "n": _N, "e": _E},
    "use a list": {"kid": "usel", "kty": "RSA", "use": ["sig"], "n": _N, "e": _E},
    "key_ops encrypt": {"kid": "ops", "kty": "RSA", "key_ops": ["encrypt"], "n": _N, "e": _E},
    "private RSA key": {
        **json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048))),
        "kid": "d",
    },
    "kid a number": {"kid": 7, "kty": "RSA", "n": _N, "e": _E},
    "no kid": {"kty": "RSA", "n": _N, "e": _E},
    "a number": 7,
    "a string": "RSA",
    "null": None,
    "a list": [GOOD.public_jwk()],
}


@pytest.mark.parametrize("member", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_an_unusable_member_is_skipped_and_the_good_key_serves(
    member: object,
    jwks_server: JwksServer,
    issuer: LocalIssuer,
    rsa_key: SigningKey,
    authz: Authorizer,
    clock: FakeClock,
) -> None:
    """Before, ``alg: none`` made PyJWK raise NotImplementedError out of the key lookup: every
    token of every user was a 500 until the issuer fixed its set."""
    jwks_server.document = {"keys": [member, *issuer.jwks()["keys"], member]}
    assert rsa_key.kid in parse_jwks(json.dumps(jwks_server.document).encode())
    event = rest(user_token(issuer, "alice", clock.now), "GET", "/employees", "/employees")
    assert outcome(authz, event) == "Allow"


def test_an_unusable_member_under_the_good_kid_does_not_shadow_it(
    jwks_server: JwksServer, issuer: LocalIssuer, rsa_key: SigningKey, authz: Authorizer,
    clock: FakeClock,
) -> None:  # fmt: skip
    shadow = {"kid": rsa_key.kid, "kty": "RSA", "alg": "none", "n": _N, "e": _E}
    jwks_server.document = {"keys": [shadow, *issuer.jwks()["keys"]]}
    event = rest(user_token(issuer, "alice", clock.now), "GET", "/employees", "/employees")
    assert outcome(authz, event) == "Allow"


def test_a_token_naming_a_skipped_member_is_unknown_kid(clock: FakeClock) -> None:
    hmac = {"kid": "hmac", "kty": "oct", "alg": "HS256", "k": "c2VjcmV0"}
    body = json.dumps({"keys": [hmac, GOOD.public_jwk()]}).encode()
    keys = JwksCache("https://issuer.example/jwks", fetch=lambda _url: body, clock=clock)
    with pytest.raises(InvalidToken) as caught:
        keys.key("hmac", "RS256")
    assert caught.value.reason == "unknown_kid"


def test_skipped_members_are_logged_once_per_key_set_version(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Every cooldown a random kid refetches the same set: it is not logged again. A new
    version of the set is."""
    bad = {"kid": "bad", "kty": "RSA", "alg": "none", "n": _N, "e": _E}
    documents = [{"keys": [bad, bad, GOOD.public_jwk()]}]
    keys = JwksCache(
        "https://issuer.example/jwks",
        fetch=lambda _url: json.dumps(documents[-1]).encode(),
        clock=clock,
        cooldown=10,
    )
    caplog.set_level(logging.WARNING, logger="authorizer.identity.jwks")

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if "'bad' skipped" in r.getMessage()]

    for _ in range(5):
        with pytest.raises(InvalidToken):
            keys.key("random", "RS256")
        clock.advance(11)
    assert keys.fetches == 5
    assert len(logged()) == 1, logged()
    documents.append({"keys": [bad, GOOD.public_jwk(), SigningKey.ec("new").public_jwk()]})
    keys.key("new", "ES256")
    assert len(logged()) == 2


# --- 2. redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_an_attackers_key_set_is_refused(
    status: int, servers: list[LoopbackServer], issuer: LocalIssuer, rsa_key: SigningKey,
    clock: FakeClock,
) -> None:  # fmt: skip
    """Before, urllib followed the 302 and the attacker's key, published under our kid, made
    the attacker's token an Allow."""
    attacker_key = SigningKey.rsa(rsa_key.kid)  # the attacker's key under the issuer's kid
    attacker = serving(servers, json_body({"keys": [attacker_key.public_jwk()]}))

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", attacker.url)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    ours = serving(servers, redirect)
    authz = Authorizer.from_env(sample_env(issuer, ours.url), clock=clock)
    forged = LocalIssuer(issuer.issuer, issuer.client_id, keys=[attacker_key])
    event = rest(user_token(forged, "hank", clock.now), "GET", "/employees", "/employees")
    with pytest.raises(DependencyError):  # no keys: a 500, never an Allow
        authz.handle(event)
    with pytest.raises(DependencyError, match="JWKS endpoint redirected"):
        http_fetch(ours.url)
    assert attacker.hits == 0
    assert ours.hits == 2


def test_a_redirect_without_a_location_is_refused(servers: list[LoopbackServer]) -> None:
    def bare(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with pytest.raises(DependencyError, match="JWKS endpoint redirected"):
        http_fetch(serving(servers, bare).url)


# --- 3. one deadline for the whole fetch -------------------------------------------------------


def trickled_body(handler: BaseHTTPRequestHandler) -> None:
    body = json.dumps({"keys": [GOOD.public_jwk()]}).encode()  # ~450 bytes: ~22 s at this pace
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.flush()
    trickle(handler.wfile, body)


def trickled_headers(handler: BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    trickle(handler.wfile, b"X-Padding: " + b"x" * 1000 + b"\r\n\r\n{}")


def stalled(handler: BaseHTTPRequestHandler) -> None:
    handler.rfile.read(1)  # the client sends nothing more: waits until it goes away


@pytest.mark.parametrize("respond", [trickled_body, trickled_headers, stalled])
def test_a_slow_endpoint_is_given_one_deadline(
    servers: list[LoopbackServer], respond: Respond
) -> None:
    """Each read used to get the whole timeout: a byte every 50 ms held the fetch (and every
    request behind it) for as long as the peer liked."""
    url = serving(servers, respond).url
    started = time.monotonic()
    with pytest.raises(DependencyError):
        http_fetch(url, deadline=DEADLINE_S)
    assert time.monotonic() - started < DEADLINE_S + 1.0  # the body alone would take ~22 s


class _TrickledHandshake(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(4096)  # the ClientHello
        # A TLS handshake record announcing 16 KiB, then its bytes one at a time.
        trickle(self.request.makefile("wb", buffering=0), b"\x16\x03\x03\x40\x00" + b"\x02" * 400)


def test_a_trickled_tls_handshake_is_given_the_same_deadline() -> None:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _TrickledHandshake) as server:
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        try:
            url = f"https://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
            started = time.monotonic()
            with pytest.raises(DependencyError):
                http_fetch(url, deadline=DEADLINE_S)
            assert time.monotonic() - started < DEADLINE_S + 1.0
        finally:
            server.shutdown()


def test_the_deadline_leaves_a_prompt_endpoint_alone(servers: list[LoopbackServer]) -> None:
    body = http_fetch(serving(servers, json_body({"keys": [GOOD.public_jwk()]})).url)
    assert list(parse_jwks(body)) == ["good"]


def test_a_refused_connection_is_a_dependency_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DependencyError):
        http_fetch(f"http://127.0.0.1:{port}/.well-known/jwks.json", deadline=DEADLINE_S)


# --- 4. short RSA keys -------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # signing with it
def test_a_1024_bit_rsa_key_is_not_used(
    jwks_server: JwksServer, issuer: LocalIssuer, authz: Authorizer, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Before, a token signed with a 1024-bit key the issuer published was an Allow."""
    short = SigningKey.rsa("short", bits=1024)
    jwks_server.document = {"keys": [*issuer.jwks()["keys"], short.public_jwk()]}
    caplog.set_level(logging.WARNING, logger="authorizer.identity.jwks")
    weak = LocalIssuer(issuer.issuer, issuer.client_id, keys=[short])
    event = rest(user_token(weak, "hank", clock.now), "GET", "/employees", "/employees")
    assert outcome(authz, event) == "401"
    with pytest.raises(InvalidToken) as caught:
        authz.keys.key("short", "RS256")
    assert caught.value.reason == "unknown_kid"
    assert any("1024 bits" in r.getMessage() for r in caplog.records)
    good = rest(user_token(issuer, "alice", clock.now), "GET", "/employees", "/employees")
    assert outcome(authz, good) == "Allow"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_a_tls_endpoint_is_fetched_and_its_certificate_checked(
    servers: list[LoopbackServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handshake done in steps under the deadline is still a verified TLS handshake."""
    server = serving(servers, json_body({"keys": [GOOD.public_jwk()]}))
    cert_file, key_file = _self_signed(tmp_path)
    serving_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving_tls.load_cert_chain(cert_file, key_file)
    server.wrap(serving_tls)
    url = server.url.replace("http://", "https://")
    with pytest.raises(DependencyError, match="CERTIFICATE_VERIFY_FAILED"):
        http_fetch(url)  # the default trust store does not know this certificate
    trusting = ssl.create_default_context(cafile=cert_file)
    monkeypatch.setattr(fetch, "_tls_context", lambda: trusting)
    assert list(parse_jwks(http_fetch(url, deadline=DEADLINE_S * 4))) == ["good"]
