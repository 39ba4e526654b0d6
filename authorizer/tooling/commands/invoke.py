"""`cedar-authz invoke EVENT.json`: run the Lambda handler on an event file and print the answer
(this project's `sam local invoke`). Exit 0 allow, 2 deny, 1 unauthorized or error.

With AUTH_ISSUER (or AUTH_ISSUERS) set, the configured authorizer (over CEDAR_POLICY_BUNDLE when
that is set) runs on the event as it is. Without, the sample application and the local issuer
run, and ``{{token:USER}}`` placeholders get fresh tokens.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from authorizer.errors import CedarAuthzError
from authorizer.gateway.response import policy_allows
from authorizer.handler import authorizer_from_env
from authorizer.live import LiveAuthorizer
from authorizer.pdp import Authorizer
from authorizer.tooling.authoring.inputs import Exit
from authorizer.tooling.local.issuer import LocalIssuer
from authorizer.tooling.local.sample import configured, fill_tokens, sample_authorizer


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("invoke", help="run the authorizer on an API Gateway event file")
    parser.add_argument("event", type=Path, help="event JSON (see events/)")
    parser.add_argument("--quiet", action="store_true", help="no decision log line on stderr")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"error: cannot read event {args.event}: {error}", file=sys.stderr)
        return Exit.FAILURE
    try:
        if configured():
            authorizer: Authorizer | LiveAuthorizer = authorizer_from_env()
        else:
            issuer = LocalIssuer()
            authorizer = sample_authorizer(issuer)
            event = fill_tokens(event, issuer)
    except CedarAuthzError as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    except KeyError as error:  # a {{token:USER}} naming no sample user
        print(f"error: {error.args[0]}", file=sys.stderr)
        return Exit.FAILURE
    # Redirected, not replaced: a bundle layer's pipelines, built already, share this one.
    authorizer.telemetry.write_to(io.StringIO() if args.quiet else sys.stderr)
    try:
        response = authorizer.handle(event)
    except Exception as error:  # report what API Gateway would see
        status = "401 Unauthorized" if str(error) == "Unauthorized" else f"500 {error}"
        print(json.dumps({"error": status}))
        return Exit.FAILURE
    print(json.dumps(response, indent=2))
    allowed = response.get("isAuthorized")
    if allowed is None:
        allowed = policy_allows(response, event.get("methodArn") or event.get("routeArn", ""))
    return Exit.OK if allowed else Exit.DENY
