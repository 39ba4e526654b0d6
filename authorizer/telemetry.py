"""One structured JSON line per decision, which is also a CloudWatch EMF record.

EMF by hand rather than Powertools: it is one ``json.dumps`` per decision and keeps cold start
free of another import tree (measured in the issue notes). Never a raw token or a secret.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any, TextIO

NAMESPACE = "CedarAuthz"
# Characters kept of one value taken from the request (a principal id, a resource id from a path
# parameter, an error text), and errors kept per line: a 1 MB path parameter is not a 1 MB line.
MAX_LOGGED_VALUE = 256
MAX_LOGGED_ERRORS = 10


def capped(value: str | None) -> str | None:
    """The value, or its first ``MAX_LOGGED_VALUE`` characters and how many more there were."""
    if value is None or len(value) <= MAX_LOGGED_VALUE:
        return value
    return f"{value[:MAX_LOGGED_VALUE]}...(+{len(value) - MAX_LOGGED_VALUE} chars)"


@functools.lru_cache(maxsize=64)
def _directive(metrics: tuple[tuple[str, str], ...], dimensions: tuple[str, ...]) -> str:
    """The EMF metric directive: the same few shapes every time, so encoded once each."""
    body = {
        "Namespace": NAMESPACE,
        "Dimensions": [["service", *dimensions]],
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics],
    }
    return '"CloudWatchMetrics":' + json.dumps([body], separators=(",", ":"))


class Telemetry:
    def __init__(
        self,
        service: str = "cedar-authz",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self._stream = stream
        self._clock = clock

    def write_to(self, stream: TextIO | None) -> None:
        """Send the lines elsewhere (None: stdout), for every pipeline sharing this one (a
        bundle layer's, built before a caller could replace its telemetry)."""
        self._stream = stream

    def decision(
        self,
        *,
        outcome: str,
        latency_ms: float,
        cache: str,
        principal: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        policies: tuple[str, ...] = (),
        errors: tuple[str, ...] = (),
        reason: str | None = None,
        event_kind: str | None = None,
        issuer: str | None = None,
        policy_version: str | None = None,
    ) -> None:
        """The decision log line; its metrics: Decisions and Latency by outcome, CacheHits, and
        TokenFailures by reason. Built directly: it runs on every request, cache hits included."""
        unauthorized = outcome == "Unauthorized"
        if errors or reason or unauthorized:
            line = self._record_line(outcome, latency_ms, cache, principal, action, resource,
                                     policies, errors, reason, event_kind, issuer,
                                     policy_version)  # fmt: skip
        else:
            line = self._plain_line(outcome, latency_ms, cache, principal, action, resource,
                                    policies, event_kind, issuer, policy_version)  # fmt: skip
        self._write(line, _decision_directive(cache != "none", unauthorized))

    def _write(self, fields: str, directive: str) -> None:
        """One EMF line: the record's JSON without its closing brace, then the metrics."""
        stream = self._stream or sys.stdout
        stream.write(f'{fields},"_aws":{{"Timestamp":{int(self._clock() * 1000)},{directive}}}}}\n')

    def _record_line(
        self,
        outcome: str,
        latency_ms: float,
        cache: str,
        principal: str | None,
        action: str | None,
        resource: str | None,
        policies: tuple[str, ...],
        errors: tuple[str, ...],
        reason: str | None,
        event_kind: str | None,
        issuer: str | None,
        policy_version: str | None,
    ) -> str:
        """The line's fields as JSON, without the closing brace (the metrics follow)."""
        unauthorized = outcome == "Unauthorized"
        record: dict[str, Any] = {
            "level": ("WARNING" if unauthorized else "ERROR") if errors else "INFO",
            "service": self._service,
            "message": "decision",
            "outcome": outcome,
            "principal": capped(principal),
            "action": capped(action),
            "resource": capped(resource),
            "determining_policies": list(policies),
            "latency_ms": round(latency_ms, 3),
            "cache": cache,
            "event": event_kind,
            "Decisions": 1,
            "Latency": latency_ms,
        }
        if errors:
            record["errors"] = [capped(e) for e in errors[:MAX_LOGGED_ERRORS]]
        if reason:
            record["reason"] = capped(reason)
        if issuer:  # with several issuers: whose token it was
            record["issuer"] = capped(issuer)
        if policy_version:  # which policies decided (a bundle's version changes without deploy)
            record["policy_version"] = policy_version
        if cache != "none":
            record["CacheHits"] = 1
        if unauthorized:
            record["TokenFailures"] = 1
            record["token_failure"] = record.get("reason", "unknown")
        return _ENCODER.encode(record)[:-1]

    def _plain_line(
        self,
        outcome: str,
        latency_ms: float,
        cache: str,
        principal: str | None,
        action: str | None,
        resource: str | None,
        policies: tuple[str, ...],
        event_kind: str | None,
        issuer: str | None,
        policy_version: str | None,
    ) -> str:
        """``_record_line`` of a line with no errors, reason or token failure (every answered
        request), character for character, formatted directly instead of through a dict
        (tests/test_telemetry_line.py compares the two)."""
        line = (
            f'{{"level":"INFO","service":{_json(self._service)},"message":"decision",'
            f'"outcome":{_json(outcome)},"principal":{_json(capped(principal))},'
            f'"action":{_json(capped(action))},"resource":{_json(capped(resource))},'
            f'"determining_policies":[{",".join(map(_json, policies))}],'
            f'"latency_ms":{_json(round(latency_ms, 3))},"cache":{_json(cache)},'
            f'"event":{_json(event_kind)},"Decisions":1,"Latency":{_json(latency_ms)}'
        )
        if issuer:
            line += f',"issuer":{_json(capped(issuer))}'
        if policy_version:
            line += f',"policy_version":{_json(policy_version)}'
        return line + ',"CacheHits":1' if cache != "none" else line

    def bundle_refused(self, url: str, why: str) -> None:
        """A policy bundle refused (unreachable, damaged, invalid): the last good one serves.
        Metric BundleRefusals, so an alarm can say that a publish did not take."""
        record = {"level": "ERROR", "service": self._service, "message": "bundle refused",
                  "bundle": capped(url), "reason": capped(why), "BundleRefusals": 1}  # fmt: skip
        self._write(_ENCODER.encode(record)[:-1], _directive((("BundleRefusals", "Count"),), ()))


# One encoder for every line: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def _json(value: object) -> str:
    """``_ENCODER.encode(value)``; a string or finite float without the encoder's overhead."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)  # what the encoder does with ensure_ascii
    if isinstance(value, float) and math.isfinite(value):
        return float.__repr__(value)
    if value is None:
        return "null"
    return _ENCODER.encode(value)


@functools.lru_cache(maxsize=4)
def _decision_directive(hit: bool, unauthorized: bool) -> str:
    metrics = [("Decisions", "Count"), ("Latency", "Milliseconds")]
    metrics += [("CacheHits", "Count")] if hit else []
    metrics += [("TokenFailures", "Count")] if unauthorized else []
    dimensions = ("outcome", "token_failure") if unauthorized else ("outcome",)
    return _directive(tuple(metrics), dimensions)
