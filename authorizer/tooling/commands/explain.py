"""`cedar-authz explain --user U | --token T | --claims JSON --method M --path P`: why the
authorizer decides what it decides for one request.

Runs the request through the real authorizer path (token verification, entity mapping, route
table, Cedar) and prints the decision, the route, principal, action and resource, the determining
policies with their file and line, the errors, the entities and the context it built (--json for
machines). --user mints a token for a sample user, --claims for the claims given. --token is
verified against the configured issuer's keys when AUTH_ISSUER or AUTH_ISSUERS is set; without
them (the sample application) the token's claims are re-signed locally, so its signature is not
checked, its times and use are.
Exit 0 allow, 2 deny, 1 unauthorized or error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import sys
from typing import Any

from authorizer.errors import CedarAuthzError, InvalidToken
from authorizer.identity.tokens import decode_unverified
from authorizer.tooling.authoring.explain import explain, render
from authorizer.tooling.authoring.harness import DEFAULT_SOURCE_IP, Harness, HttpCall, Identity
from authorizer.tooling.authoring.inputs import (
    Exit,
    Inputs,
    add_input_arguments,
    cedar_schema,
    load_linked_policies,
    load_model,
    read_entities,
    resolve,
)
from authorizer.tooling.authoring.suite import Stop, load_policy_set
from authorizer.tooling.local.users import SAMPLE_USERS


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "explain",
        help="explain the decision for one request",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help=f"a sample user ({', '.join(sorted(SAMPLE_USERS))})")
    who.add_argument("--token", help="a JWT (the bearer token, without `Bearer `)")
    who.add_argument("--claims", metavar="JSON", help="token claims as a JSON object")
    parser.add_argument(
        "--token-use", choices=("access", "id"), help="token minted for --user/--claims"
    )
    parser.add_argument("--method", required=True, help="HTTP method")
    parser.add_argument("--path", required=True, help="request path, e.g. /employees/emp-001")
    parser.add_argument("--query", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--source-ip", default=DEFAULT_SOURCE_IP, help="caller's IP address")
    parser.add_argument("--time", help="request time, ISO 8601 (default: now)")
    add_input_arguments(parser, entities=True)
    parser.add_argument("--json", action="store_true", help="print the explanation as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        call = _call(args)
        inputs = resolve(args)
        model = load_model(inputs)
        # Policies that do not validate: 3, as `validate`, `test` and `diff` say (1: unparsable).
        load_policy_set(inputs, inputs.policy_dir, model, cedar_schema(model) if model else None)
    except Stop as stop:
        print(stop.message, file=sys.stderr)
        return stop.code
    except (CedarAuthzError, ValueError, RecursionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    try:
        harness, token, notes = _harness_and_token(args, inputs)
        harness.at(call, harness.clock.now)
        if token is None:
            token = harness.token(Identity(args.user, _claims(args.claims), args.token_use))
        store = json.loads(read_entities(inputs.entities_path))
        explanation = explain(harness, call, token, store if isinstance(store, list) else [], notes)
    except (CedarAuthzError, ValueError, RecursionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    except KeyError as error:  # an unknown sample user: the message names the known ones
        print(f"error: {str(error).strip(chr(34))}", file=sys.stderr)
        return Exit.FAILURE
    print(json.dumps(explanation.as_json(), indent=2) if args.json else render(explanation))
    if explanation.decision == "Unauthorized":
        return Exit.FAILURE
    return Exit.OK if explanation.allowed else Exit.DENY


def _harness_and_token(
    args: argparse.Namespace, inputs: Inputs
) -> tuple[Harness, str | None, list[str]]:
    policies = load_linked_policies(inputs.policy_dir, inputs.links_path)
    model = load_model(inputs)
    entities = read_entities(inputs.entities_path)
    label = str(inputs.entities_path or "entities")
    if args.token is None:
        return Harness.local(policies, model, entities, label), None, []
    token = args.token.removeprefix("Bearer ").strip()
    if os.environ.get("AUTH_ISSUER", "").strip() or os.environ.get("AUTH_ISSUERS", "").strip():
        return Harness.configured(policies, model, entities, label), token, []
    try:
        _, claims = decode_unverified(token)
    except InvalidToken as error:
        raise ValueError(f"not a JWT: {error.detail or error.reason}") from None
    issuer = claims.get("iss") if isinstance(claims.get("iss"), str) else None
    client = claims.get("client_id", claims.get("aud"))
    harness = Harness.local(
        policies, model, entities, label, issuer=issuer,
        client_id=client if isinstance(client, str) else None,
    )  # fmt: skip
    assert harness.issuer is not None
    note = (
        "no AUTH_ISSUER(S): the token's signature was not checked (its claims were re-signed "
        "locally)"
    )
    return harness, harness.issuer.sign(claims), [note]


def _call(args: argparse.Namespace) -> HttpCall:
    method = args.method.upper()
    if not args.path.startswith("/"):
        raise ValueError("--path must start with /")
    try:
        source_ip = str(ipaddress.ip_address(args.source_ip))
    except ValueError:
        raise ValueError(f"--source-ip is not an IP address: {args.source_ip!r}") from None
    return HttpCall(
        method, args.path, _pairs(args.query, "--query"), _pairs(args.header, "--header"),
        source_ip, _time(args.time),
    )  # fmt: skip


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise ValueError(f"{flag} takes NAME=VALUE, not {value!r}")
        if name in pairs and flag == "--query":  # kept the last: decided on one of two values
            raise ValueError(
                f"--query {name} is given twice: the authorizer refuses a parameter given twice "
                "where a policy may read it (one value per parameter here)"
            )
        pairs[name] = rest
    return pairs


def _time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--time is not an ISO 8601 date-time: {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


def _claims(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        claims = json.loads(text)
    except ValueError as error:
        raise ValueError(f"--claims is not JSON: {error}") from None
    if not isinstance(claims, dict):
        raise ValueError("--claims must be a JSON object")
    return claims
