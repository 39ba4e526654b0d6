"""`cedar-authz revoke (--jti J | --origin-jti J | --sub S [--before EPOCH]) [--table T]
[--expires EPOCH]`: write one revocation into the revocation table the authorizer reads
(REVOCATION_TABLE), as an item keyed ``jti#<jti>``, ``origin_jti#<origin_jti>`` or ``sub#<sub>``.

--jti J          revoke one token (its `jti` claim).
--origin-jti J   revoke a Cognito refresh-token family: every access and ID token issued from one
                 refresh token carries its `origin_jti`.
--sub S          revoke every token of a user issued before --before (epoch seconds; default:
                 the end of this second, so a token issued earlier in it, whose whole-second
                 `iat` equals now rounded down, is revoked too). A later revocation of the same
                 user is never moved back.
--table T        the table (default: $REVOCATION_TABLE).
--expires EPOCH  when DynamoDB's TTL may delete the item: the `exp` of the token (for --jti and
                 --origin-jti; for a family, the refresh token's `exp` unless the refresh token is
                 also revoked in Cognito, which then issues no more tokens from it). Default: now
                 + 1 day, the longest lifetime Cognito allows an access or ID token (for --sub:
                 --before + 1 day, when every token issued before it has expired).

The region and endpoint are boto3's (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB). The authorizer sees
the revocation within REVOCATION_CACHE_TTL seconds, plus API Gateway's authorizer cache TTL.
Exit 0 written, 1 an error (no table, the table unreachable or refusing the write).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from authorizer.config import AwsSettings
from authorizer.errors import ConfigError
from authorizer.identity.revocation import (
    EXPIRES_AT,
    KEY,
    REVOKED_BEFORE,
    RevocationUnavailable,
)
from authorizer.stores.dynamo_store import dynamodb_client_for
from authorizer.tooling.authoring.inputs import Exit

MAX_TOKEN_LIFETIME = 86_400  # seconds: Cognito's longest access and ID token validity (1 day)
MAX_EPOCH = 253_402_300_799  # the end of year 9999, as the token verifier bounds NumericDates
MAX_VALUE_LENGTH = 1024  # a key stays well inside DynamoDB's 2048 bytes


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "revoke",
        help="revoke a token, a refresh-token family or a user's tokens (REVOCATION_TABLE)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--jti", metavar="J", help="one token's jti")
    which.add_argument("--origin-jti", metavar="J", help="a refresh-token family's origin_jti")
    which.add_argument("--sub", metavar="S", help="a user: every token issued before --before")
    parser.add_argument("--before", type=int, metavar="EPOCH", help="with --sub (default: now)")
    parser.add_argument("--table", metavar="T", help="default: $REVOCATION_TABLE")
    parser.add_argument("--expires", type=int, metavar="EPOCH", help="the item's expires_at")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    try:
        table = args.table or (env.get("REVOCATION_TABLE") or "").strip()
        if not table:
            raise ConfigError("no table: give --table or set REVOCATION_TABLE")
        item, condition = revocation_item(args, int(time.time()))
        client = dynamodb_client_for(AwsSettings.from_env(env))
        written = put(client, table, item, condition)
    except (ConfigError, RevocationUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILURE
    key, expires = item[KEY]["S"], item[EXPIRES_AT]["N"]
    if not written:
        print(f"{key}: a revocation at least as late already stands in {table}; unchanged")
    else:
        print(f"revoked {key} in {table} ({EXPIRES_AT} {expires})")
    return Exit.OK


def revocation_item(args: argparse.Namespace, now: int) -> tuple[dict[str, Any], str | None]:
    """The item (wire format) and, for --sub, the condition that keeps a later revocation."""
    if args.before is not None and args.sub is None:
        raise ConfigError("--before goes with --sub")
    for name in ("before", "expires"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= MAX_EPOCH:
            raise ConfigError(f"--{name} must be epoch seconds, not {value}")
    claim, value = next((c, v) for c in ("jti", "origin_jti", "sub")
                        if (v := getattr(args, c)) is not None)  # fmt: skip
    if not value or len(value) > MAX_VALUE_LENGTH:
        raise ConfigError(f"--{claim.replace('_', '-')} must be 1 to {MAX_VALUE_LENGTH} characters")
    item: dict[str, Any] = {KEY: {"S": f"{claim}#{value}"}}
    if claim != "sub":
        expires = args.expires if args.expires is not None else now + MAX_TOKEN_LIFETIME
        item[EXPIRES_AT] = {"N": str(expires)}
        return item, None
    # `iat` is whole seconds: "before now" rounded down would spare the tokens of this second.
    before = args.before if args.before is not None else now + 1
    expires = args.expires if args.expires is not None else before + MAX_TOKEN_LIFETIME
    item[REVOKED_BEFORE] = {"N": str(before)}
    item[EXPIRES_AT] = {"N": str(expires)}
    # Two operators revoking one user: the later revoked_before wins, whatever the order.
    return item, f"attribute_not_exists({KEY}) OR {REVOKED_BEFORE} < :before"


def put(client: Any, table: str, item: dict[str, Any], condition: str | None) -> bool:
    """PutItem; False when the condition kept an existing (later) revocation."""
    from authorizer.stores.aws_errors import failure_reason  # noqa: PLC0415

    request: dict[str, Any] = {"TableName": table, "Item": item}
    if condition is not None:
        request["ConditionExpression"] = condition
        request["ExpressionAttributeValues"] = {":before": item[REVOKED_BEFORE]}
    try:
        client.put_item(**request)
    except Exception as error:  # botocore's failures, classified
        reason, detail = failure_reason(error)
        if detail == "ConditionalCheckFailedException":
            return False
        raise RevocationUnavailable(reason, detail) from error
    return True
