"""One structured JSON line per decision, which is also a CloudWatch EMF record.

EMF by hand rather than Powertools: it is one ``json.dumps`` per decision and keeps cold start
free of another import tree (measured in the issue notes). Never a raw token or a secret.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

NAMESPACE = "CedarAuthz"


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

    def emit(
        self,
        fields: Mapping[str, Any],
        metrics: Mapping[str, tuple[float, str]],
        dimensions: list[str],
    ) -> None:
        """``metrics``: name -> (value, unit); ``dimensions``: field names to split them by."""
        record: dict[str, Any] = {"level": "INFO", "service": self._service, **fields}
        record.update({name: value for name, (value, _) in metrics.items()})
        directive = _directive(
            tuple((n, unit) for n, (_, unit) in metrics.items()), tuple(dimensions)
        )
        timestamp = int(self._clock() * 1000)
        line = json.dumps(record, separators=(",", ":"), default=str)
        stream = self._stream or sys.stdout
        stream.write(f'{line[:-1]},"_aws":{{"Timestamp":{timestamp},{directive}}}}}\n')

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
    ) -> None:
        fields: dict[str, Any] = {
            "message": "decision",
            "outcome": outcome,
            "principal": principal,
            "action": action,
            "resource": resource,
            "determining_policies": list(policies),
            "latency_ms": round(latency_ms, 3),
            "cache": cache,
            "event": event_kind,
        }
        if errors:
            fields["level"] = "ERROR" if outcome != "Unauthorized" else "WARNING"
            fields["errors"] = list(errors)
        if reason:
            fields["reason"] = reason
        metrics = {"Decisions": (1.0, "Count"), "Latency": (latency_ms, "Milliseconds")}
        dimensions = ["outcome"]
        if cache != "none":
            metrics["CacheHits"] = (1.0, "Count")
        if outcome == "Unauthorized":
            metrics["TokenFailures"] = (1.0, "Count")
            fields["token_failure"] = reason or "unknown"
            dimensions = ["outcome", "token_failure"]
        self.emit(fields, metrics, dimensions)
