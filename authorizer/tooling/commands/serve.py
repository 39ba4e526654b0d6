"""`cedar-authz serve [--port P] [--host H] [--http-api] [--cache-ttl S] [--cache-key K]`: the
sample application behind a local API Gateway, with its own issuer and keys, nothing to
configure (authorizer/tooling/local/gateway.py). Prints a tour of ready-to-paste curl commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from authorizer.errors import ConfigError
from authorizer.tooling.authoring.inputs import Exit
from authorizer.tooling.local.keys import KEY_FILE, mint, state_dir
from authorizer.tooling.local.users import SAMPLE_USERS

if TYPE_CHECKING:  # aiohttp is the `local` extra: the other commands must not need it
    from aiohttp import web

    from authorizer.tooling.local.gateway import GatewayOptions

MAX_CACHE_TTL = 3600.0  # API Gateway's maximum


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve", help="run the sample application behind a local API Gateway"
    )
    parser.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0: any free)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument(
        "--http-api",
        action="store_true",
        help="send HTTP API payload 2.0 events (default: REST API REQUEST events)",
    )
    parser.add_argument(
        "--cache-ttl",
        type=_ttl,
        default=300.0,
        help="authorizer cache TTL in seconds, 0 disables (default 300, max 3600)",
    )
    parser.add_argument(
        "--cache-key",
        choices=("request", "token"),
        default="request",
        help="identity sources of the cache: the token with method, path, query and source IP "
        "(default), or the token alone (a cached policy then has to cover every route)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from authorizer.tooling.local.gateway import GatewayOptions, make_app  # noqa: PLC0415  # see above

    options = GatewayOptions(
        http_api=args.http_api, cache_ttl=args.cache_ttl, cache_key=args.cache_key
    )
    home = state_dir()
    try:
        app = make_app(options, home=home)
    except (ConfigError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    try:
        asyncio.run(_serve(app, args.host, args.port, home))
    except (ConfigError, OSError) as error:
        print(f"error: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return Exit.FAILURE
    except KeyboardInterrupt:
        pass
    return Exit.OK


async def _serve(app: web.Application, host: str, port: int, home: Path) -> None:
    from aiohttp import web  # noqa: PLC0415  # the `local` extra, loaded by `serve` only

    from authorizer.tooling.local.gateway import GATEWAY, loopback_base  # noqa: PLC0415

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = str(runner.addresses[0][0]), int(runner.addresses[0][1])
        gateway = app[GATEWAY]
        await gateway.start(loopback_base(bound_host, bound_port))  # cold start now, not later
        base = public_base(bound_host, bound_port)
        token = mint(gateway.issuer, "alice")
        print(tour(base, token, gateway.options, home / KEY_FILE), flush=True)
        await _until_stopped()
    finally:
        await runner.cleanup()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def tour(base: str, token: str, options: GatewayOptions, key_file: Path) -> str:
    """What `serve` prints on start: three one-line curl commands, tokens inline."""
    flavour = "HTTP API (payload 2.0)" if options.http_api else "REST API (REQUEST authorizer)"
    cache = f"authorizer cache {options.cache_ttl:g} s" if options.cache_ttl else "no cache"
    auth = f"-H 'Authorization: Bearer {token}'"
    users = ", ".join(sorted(SAMPLE_USERS))
    return "\n".join(
        [
            f"cedar-authz serve: the sample application behind a local API Gateway on {base}",
            f"  {flavour}, {cache}; decisions are logged on stderr",
            f"  issuer keys {base}/.well-known/jwks.json (private key: {key_file})",
            "",
            "Try it (alice's token is valid for an hour):",
            "  # 200: alice (engineering, employee:read) reads an employee record",
            f"  curl -i {base}/employees/emp-001 {auth}",
            "  # 403: alice may not read salaries (only the division's HR group may)",
            f"  curl -i {base}/employees/emp-001/salary {auth}",
            "  # 401: no token",
            f"  curl -i {base}/employees/emp-001",
            "",
            "Another user's token: cedar-authz token hank  (--id for an ID token)",
            f"  or: curl -s -d username=hank {base}/oauth2/token",
            f"  users: {users}",
            "Stop with Ctrl-C.",
        ]
    )


def public_base(host: str, port: int) -> str:
    """The URL to show: a wildcard address is reached on loopback."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104  # not binding: naming the URL to show
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port (0 to 65535): {value!r}")
    return int(value)


def _ttl(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 <= seconds <= MAX_CACHE_TTL:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_CACHE_TTL:g}")
    return seconds
