"""Run test cases: the Cedar CLI's form with cedarpy on the loaded policy set (the test's own
entities, as `cedar run-tests`), the HTTP form through the authorizer (``Harness``). A result
says what happened; ``compare`` says whether that is what the test expected, in the Cedar CLI's
words."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import cedarpy

from authorizer.cedar.links import template_of
from authorizer.cedar.policies import LoadedPolicies, PolicySource
from authorizer.errors import CedarAuthzError, Unauthorized
from authorizer.tooling.authoring.harness import Harness
from authorizer.tooling.authoring.testfile import Case, CedarCase, Expectation, HttpCase

Status = Literal["ok", "fail", "error"]


@dataclass(frozen=True)
class Evaluation:
    """What the policies decided for a case (or why nothing was decided)."""

    decision: str | None  # allow, deny, unauthorized; None: the case could not run
    determining: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    failure: str | None = None  # why the case could not run


@dataclass(frozen=True)
class Result:
    case: Case
    status: Status
    detail: str
    evaluation: Evaluation


class Runner:
    """Evaluates cases against one policy set. ``harness`` is built on first use (an HTTP case
    needs the authorizer, a Cedar case does not)."""

    def __init__(
        self,
        policies: LoadedPolicies,
        schema: cedarpy.Schema | None,
        harness: Callable[[], Harness],
        now: float | None = None,
    ) -> None:
        self.policies = policies
        self.schema = schema
        self.policy_set = policies.policy_set()
        self._make_harness = harness
        self._harness: Harness | None = None
        self.now = time.time() if now is None else now  # the time of cases that give none

    @property
    def harness(self) -> Harness:
        if self._harness is None:
            self._harness = self._make_harness()
        return self._harness

    def evaluate(self, case: Case) -> Evaluation:
        if case.error is not None:
            return Evaluation(None, failure=case.error)
        try:
            if isinstance(case, CedarCase):
                return self._cedar(case)
            return self._http(case)
        except CedarAuthzError as error:
            return Evaluation(None, failure=str(error))
        except Exception as error:  # a bug of ours must still not end the run in a traceback
            return Evaluation(None, failure=f"internal error: {error!r}")

    def run(self, case: Case) -> Result:
        evaluation = self.evaluate(case)
        status, detail = compare(case.expected, evaluation, isinstance(case, CedarCase))
        return Result(case, status, detail, evaluation)

    def _cedar(self, case: CedarCase) -> Evaluation:
        try:
            entities = cedarpy.Entities.from_json_str(json.dumps(case.entities), self.schema)
        except (ValueError, TypeError) as error:
            return Evaluation(None, failure=f"failed to parse entities: {error}")
        try:
            result = cedarpy.is_authorized(
                dict(case.request), self.policy_set, entities, self.schema
            )
        except (ValueError, TypeError, KeyError) as error:
            return Evaluation(None, failure=f"failed to create request: {error}")
        errors = tuple(str(e) for e in result.diagnostics.errors)
        if result.decision.value == "NoDecision":
            return Evaluation(None, errors=errors, failure="; ".join(errors) or "no decision")
        reasons = tuple(str(r) for r in result.diagnostics.reasons)
        return Evaluation(result.decision.value.lower(), reasons, errors)

    def _http(self, case: HttpCase) -> Evaluation:
        harness = self.harness
        harness.at(case.call, self.now)
        try:
            token = harness.token(case.identity)
            _, _, outcome = harness.decide(case.call, token)
        except Unauthorized as error:
            return Evaluation("unauthorized", errors=(str(error),))
        except (KeyError, ValueError) as error:
            return Evaluation(None, failure=str(error).strip("'\""))
        decision = outcome.decision
        return Evaluation(
            "allow" if decision.allowed else "deny", decision.determining, decision.errors
        )


def compare(expected: Expectation, got: Evaluation, cedar_form: bool) -> tuple[Status, str]:
    """(status, detail): the Cedar CLI's checks — the decision, the expected reasons a subset of
    the determining policies, the number of errors."""
    if got.decision is None:
        return "error", got.failure or "no decision"
    if got.decision != expected.decision:
        if cedar_form:
            detail = f"expected {expected.decision.title()}, got {got.decision.title()}"
        else:
            detail = f"expected {expected.decision}, got {got.decision}"
        why = ", ".join(got.determining) or "; ".join(got.errors) or "no policy applies"
        return "fail", f"{detail} ({why})"
    problems = []
    missing = [r for r in expected.reason if r not in got.determining]
    if missing:
        determining = ", ".join(f"`{r}`" for r in got.determining) or "none"
        problems.append(
            "missing reason(s): " + ", ".join(f"`{r}`" for r in missing)
            + f" (the determining policies: {determining})"
        )  # fmt: skip
    count = len(got.errors)
    if expected.num_errors is not None and count != expected.num_errors:
        listed = f": {', '.join(got.errors)}" if count else ""
        problems.append(
            f"expected {expected.num_errors} error(s), but got {count} runtime error(s){listed}"
        )
    return ("fail", "; ".join(problems)) if problems else ("ok", "")


@dataclass(frozen=True)
class Coverage:
    exercised: tuple[PolicySource, ...]
    unexercised: tuple[PolicySource, ...]


def coverage(policies: LoadedPolicies, results: Iterable[Result]) -> Coverage:
    """Which policies determined at least one decision. A template counts through its links."""
    seen = {p for r in results for p in r.evaluation.determining}
    seen |= {t for p in list(seen) if (t := template_of(policies, p)) is not None}
    ordered = sorted(policies.sources.values(), key=lambda s: (str(s.file), s.line, s.id))
    return Coverage(
        tuple(s for s in ordered if s.id in seen),
        tuple(s for s in ordered if s.id not in seen),
    )


def summary(results: Sequence[Result]) -> tuple[int, int]:
    passed = sum(1 for r in results if r.status == "ok")
    return passed, len(results) - passed
