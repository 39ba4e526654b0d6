"""The decision log line of an answered request is formatted directly, not through a dict and
json: character for character the line the general path (``_record_line``) writes."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.telemetry import MAX_LOGGED_VALUE, Telemetry

TEXT = st.text(max_size=MAX_LOGGED_VALUE + 20)  # quotes, escapes, non-ASCII, over the cap
MAYBE = st.none() | TEXT


@settings(max_examples=300, deadline=None)
@given(
    outcome=st.sampled_from(["Allow", "Deny"]),
    latency=st.floats(min_value=0, max_value=1e6, allow_nan=False) | st.integers(0, 10**6),
    cache=st.sampled_from(["none", "decision", "token"]),
    principal=MAYBE,
    action=MAYBE,
    resource=MAYBE,
    policies=st.lists(TEXT, max_size=3).map(tuple),
    event=MAYBE,
    issuer=MAYBE,
    version=MAYBE,
)
def test_the_plain_line_is_the_record_line(
    outcome: str,
    latency: float,
    cache: str,
    principal: str | None,
    action: str | None,
    resource: str | None,
    policies: tuple[str, ...],
    event: str | None,
    issuer: str | None,
    version: str | None,
) -> None:
    telemetry = Telemetry(service='svc "quoted" é')
    plain = telemetry._plain_line(outcome, latency, cache, principal, action, resource, policies,
                                  event, issuer, version)  # fmt: skip
    record = telemetry._record_line(outcome, latency, cache, principal, action, resource,
                                    policies, (), None, event, issuer, version)  # fmt: skip
    assert plain == record
    assert json.loads(plain + "}")["Decisions"] == 1


def test_a_non_finite_latency_is_written_as_the_encoder_writes_it() -> None:
    telemetry = Telemetry()
    for latency in (math.inf, -math.inf):
        plain = telemetry._plain_line("Allow", latency, "none", "p", None, None, (), None, None,
                                      None)  # fmt: skip
        assert plain == telemetry._record_line("Allow", latency, "none", "p", None, None, (), (),
                                               None, None, None, None)  # fmt: skip
