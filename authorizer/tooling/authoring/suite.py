"""Setting up `test` and `diff`: the test files, the policy set with its links, validated
against the schema, and a ``Runner`` that evaluates cases on it. Each failure is a ``Stop``
carrying the Cedar CLI's exit code and the message to print."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cedarpy

from authorizer.cedar.policies import LoadedPolicies, policy_files
from authorizer.cedar.schema import SchemaModel
from authorizer.errors import ConfigError
from authorizer.tooling.authoring.checks import parse_problems, validation_problems
from authorizer.tooling.authoring.harness import Harness
from authorizer.tooling.authoring.inputs import (
    Exit,
    Inputs,
    cedar_schema,
    load_linked_policies,
    load_model,
    read_entities,
)
from authorizer.tooling.authoring.problems import plural, render_all
from authorizer.tooling.authoring.runner import Runner
from authorizer.tooling.authoring.testfile import HttpCase, TestFile, TestFileError, load_test_file


class Stop(Exception):
    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PolicyUnderTest:
    policies: LoadedPolicies
    model: SchemaModel | None
    schema: cedarpy.Schema | None


def load_tests(paths: Sequence[Path]) -> list[TestFile]:
    try:
        return [load_test_file(path) for path in paths]
    except TestFileError as error:
        raise Stop(Exit.FAILURE, f"error: {error}") from None


def load_schema_once(inputs: Inputs) -> tuple[SchemaModel | None, cedarpy.Schema | None]:
    try:
        model = load_model(inputs)
        return model, cedar_schema(model) if model else None
    except ConfigError as error:
        raise Stop(Exit.FAILURE, f"error: {error}") from None


def load_policy_set(
    inputs: Inputs,
    directory: Path,
    model: SchemaModel | None,
    schema: cedarpy.Schema | None,
) -> PolicyUnderTest:
    """The linked policy set of ``directory``, refused (exit 3) if it does not validate."""
    try:
        policies = load_linked_policies(directory, inputs.links_path)
    except ConfigError as error:
        raise Stop(Exit.FAILURE, _parse_errors(directory) or f"error: {error}") from None
    if schema is not None:
        problems = [p for p in validation_problems(policies, schema) if p.severity == "error"]
        if problems:
            text = render_all(problems, policies.files)
            raise Stop(
                Exit.VALIDATION,
                f"{text}\npolicy set validation failed ({plural(len(problems), 'error')}): "
                f"{directory}",
            )
    return PolicyUnderTest(policies, model, schema)


def _parse_errors(directory: Path) -> str | None:
    """The files of ``directory`` that do not parse, shown as `validate` shows them."""
    try:
        texts = {p: p.read_text(encoding="utf-8") for p in policy_files(directory)}
    except (ConfigError, OSError, UnicodeDecodeError):
        return None
    problems = parse_problems(texts)
    return render_all(problems, texts) if problems else None


def runner(
    put: PolicyUnderTest, inputs: Inputs, files: Sequence[TestFile], now: float | None = None
) -> Runner:
    """A runner; its authorizer is built now when an HTTP test needs it, so that a broken
    configuration (entities, settings) stops the run once instead of failing every test."""
    entities = _entities(inputs)

    def harness() -> Harness:
        return Harness.local(
            put.policies, put.model, entities, str(inputs.entities_path or "entities")
        )

    run = Runner(put.policies, put.schema, harness, time.time() if now is None else now)
    if any(isinstance(case, HttpCase) for f in files for case in f.cases):
        try:
            _ = run.harness
        except ConfigError as error:
            raise Stop(Exit.FAILURE, f"error: {error}") from None
    return run


def _entities(inputs: Inputs) -> str:
    try:
        return read_entities(inputs.entities_path)
    except ConfigError as error:
        raise Stop(Exit.FAILURE, f"error: {error}") from None
