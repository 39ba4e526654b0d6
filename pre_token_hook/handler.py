"""Lambda entry point of the Cognito pre-token-generation trigger (V1, V2 and V3 events).

Thin on purpose: parse the event, read the user's item, call the pure logic, write the response,
log one JSON line (names and reasons, never claim values).

Failure behaviour (default ``ATTRIBUTES_FAIL_OPEN=false``, i.e. fail closed):
- item missing: a user with no extra attributes; token issued, groups as Cognito has them.
- DynamoDB throttled, unreachable, timing out, table or permission missing: the sign-in fails
  with ``AttributesUnavailable("<reason>: ...")``. Fail open: token issued unenriched, logged.
- malformed item (undecodable data, groups attribute not a list of names): as above.
- one attribute unusable (binary, null, a forbidden claim name): that claim skipped and logged.
- claims over ``TOKEN_CLAIMS_BUDGET_BYTES``, or over what the token has room for once its groups
  and added scopes are counted: largest dropped first (ties by name), logged.
- a claim nested deeper than a token may carry (``authorizer.limits``): that claim skipped, logged.
- groups over ``MAX_GROUPS`` (Cognito's and the item's together) or too long to fit a token: the
  sign-in fails (``AttributesUnavailable("too_many_groups"/"groups_too_large")``), whatever
  ``ATTRIBUTES_FAIL_OPEN`` says: a limit is not an outage, and failing open would issue the
  token without the item's groups, one of which could be a ``forbid``'s.
- no ``sub`` in the event, V3 client-credentials grant, no table: nothing read, guards applied.
- bad configuration: every invocation fails with ``ConfigError`` naming the variable.
- event of an unknown version: ``InvalidTriggerEvent``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pre_token_hook.attributes import AttributeSource, DynamoDBAttributeSource
from pre_token_hook.claims import item_groups
from pre_token_hook.config import Settings, load_settings
from pre_token_hook.errors import AttributesUnavailable, ConfigError, InvalidTriggerEvent
from pre_token_hook.trigger import TriggerEvent, compose, parse_event, render

__all__ = ["Runtime", "configure", "handle", "lambda_handler", "read_attributes", "reset"]

LOG = logging.getLogger("pre_token_hook")
_level = logging.getLevelName(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper())
LOG.setLevel(_level if isinstance(_level, int) else logging.INFO)


@dataclass(frozen=True)
class Runtime:
    """What a container keeps between invocations: settings and the attribute source."""

    settings: Settings
    source: AttributeSource | None


_runtime: Runtime | None = None


def configure(settings: Settings | None = None, source: AttributeSource | None = None) -> Runtime:
    """Set the container's runtime: settings from the environment unless given; a DynamoDB
    source when a table is configured and no source is given (the local issuer passes an
    ``InMemoryAttributeSource``)."""
    global _runtime  # noqa: PLW0603 -- one runtime per container, by design
    settings = settings if settings is not None else load_settings()
    if source is None and settings.table:
        source = DynamoDBAttributeSource(settings.table, attributes=settings.projection)
    _runtime = Runtime(settings, source)
    return _runtime


def reset() -> None:
    """Forget the runtime: the next invocation reads the environment again."""
    global _runtime  # noqa: PLW0603
    _runtime = None


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    runtime = _runtime
    if runtime is None:
        try:
            runtime = configure()
        except ConfigError as exc:
            _log(logging.ERROR, {"event": "pre_token_config_error", "error": str(exc)})
            raise
    return handle(event, runtime)


def read_attributes(
    source: AttributeSource, sub: str, settings: Settings
) -> tuple[Mapping[str, Any] | None, list[str] | None]:
    """The user's item and its group names; AttributesUnavailable when either cannot be had."""
    item = source.get(sub)
    if item is None:
        return None, None
    return item, item_groups(item, settings.groups_attribute)


# A V1 trigger enriches the ID token only, with text claims: what the authorizer needs for it.
_V1_NOTE = (
    "the ID token only is enriched, with text claims: read ID tokens (AUTH_TOKEN_USE=id) "
    "with a schema that types the claims"
)


def handle(event: Any, runtime: Runtime) -> dict[str, Any]:
    """One invocation: the event with its ``response`` set. Logs one JSON line."""
    started = time.perf_counter()
    record: dict[str, Any] = {"event": "pre_token_generation"}
    try:
        parsed = parse_event(event)
    except InvalidTriggerEvent as exc:
        _finish(logging.ERROR, record | {"status": "invalid_event", "error": str(exc)}, started)
        raise
    record |= {"triggerSource": parsed.trigger_source, "version": parsed.version, "sub": parsed.sub}
    if parsed.version == "1":
        record["v1"] = _V1_NOTE
    settings = runtime.settings
    item: Mapping[str, Any] | None = None
    groups: list[str] | None = None
    status = _skip_reason(parsed, runtime)
    if status is None and parsed.sub is not None and runtime.source is not None:
        try:
            item, groups = read_attributes(runtime.source, parsed.sub, settings)
            status = "enriched" if item is not None else "no_item"
        except AttributesUnavailable as exc:
            record["error"] = exc.reason
            # Fail open is for an outage: an item that was read but is malformed is data the
            # tokens would be issued without (its `banned` group, its `blocked` flag).
            if not settings.fail_open or exc.reason == "malformed_item":
                _finish(logging.ERROR, record | {"status": "refused"}, started)
                raise AttributesUnavailable(
                    exc.reason,
                    "the user's attributes could not be read, so the sign-in is refused "
                    "(ATTRIBUTES_FAIL_OPEN=false)",
                ) from exc
            status = "fail_open"
    try:
        outcome = compose(parsed, settings, item, groups)
    except AttributesUnavailable as exc:
        _finish(logging.ERROR, record | {"status": "refused", "error": exc.reason}, started)
        raise
    result = dict(event)
    result["response"] = render(parsed, outcome)
    record |= {
        "status": status,
        "claims": {token: sorted(o.claims) for token, o in outcome.tokens.items()},
        "dropped": [drop.as_log() for drop in outcome.drops],
    }
    if groups is not None and outcome.groups is not None:
        record["groups"] = {"mode": settings.groups_mode, "count": len(outcome.groups.groups)}
    level = logging.WARNING if outcome.drops or status == "fail_open" else logging.INFO
    _finish(level, record, started)
    return result


def _skip_reason(parsed: TriggerEvent, runtime: Runtime) -> str | None:
    if parsed.is_machine:
        return "machine_client"
    if parsed.sub is None:
        return "no_sub"
    if runtime.source is None:
        return "no_source"
    return None


def _finish(level: int, record: dict[str, Any], started: float) -> None:
    record["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    _log(level, record)


def _log(level: int, record: Mapping[str, Any]) -> None:
    LOG.log(level, json.dumps(record, separators=(",", ":"), default=str))
