"""`cedar-authz invoke` drives the real handler on every ready event in events/, through the
installed console script in a subprocess (what a user types)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from authorizer.gateway.response import policy_allows
from tests.conftest import ROOT

EVENTS = sorted((ROOT / "events").glob("*.json"))
CLI = shutil.which("cedar-authz", path=str(Path(sys.executable).parent)) or "cedar-authz"


def expected_exit(event: Path) -> int:
    if ".denied" in event.name:
        return 2
    if "no-token" in event.name or ".refused" in event.name:
        return 1
    return 0


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "CEDAR_"))}
    return subprocess.run(
        [CLI, "invoke", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_there_is_an_event_per_route_and_kind() -> None:
    names = {e.name.split(".")[0] for e in EVENTS}
    assert {"rest-request", "rest-token", "http-v1", "http-v2"} <= names
    assert (
        len([e for e in EVENTS if e.name.startswith("rest-request.") and expected_exit(e) == 0])
        >= 10
    )


@pytest.mark.parametrize("event", EVENTS, ids=[e.stem for e in EVENTS])
def test_invoke_sample_event(event: Path) -> None:
    result = invoke(str(event), "--quiet")
    assert result.returncode == expected_exit(event), result.stdout + result.stderr
    answer = json.loads(result.stdout)
    if expected_exit(event) == 1:
        assert answer == {"error": "401 Unauthorized"}
    elif "isAuthorized" in answer:
        assert answer["isAuthorized"] is (expected_exit(event) == 0)
    else:
        arn = json.loads(event.read_text())["methodArn"]
        assert policy_allows(answer, arn) is (expected_exit(event) == 0)


def test_invoke_logs_the_decision_on_stderr() -> None:
    result = invoke(str(ROOT / "events" / "rest-request.get-employees.json"))
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["outcome"] == "Allow" and line["action"] == "get /employees"


@pytest.mark.parametrize("content", ["not json", '{"type": "TOKEN"}'])
def test_invoke_reports_bad_events_without_a_traceback(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = invoke(str(bad), "--quiet")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr


def test_invoke_missing_file() -> None:
    result = invoke("/nonexistent/event.json")
    assert result.returncode == 1 and "cannot read event" in result.stderr


def test_an_unknown_sample_user_is_a_clear_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from authorizer.tooling.cli import main  # noqa: PLC0415  # in process: a subprocess proves no more

    for name in [k for k in os.environ if k.startswith(("AUTH_", "CEDAR_"))]:
        monkeypatch.delenv(name)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "type": "TOKEN", "authorizationToken": "Bearer {{token:nobody}}",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/employees",
    }))  # fmt: skip
    monkeypatch.chdir(ROOT)
    assert main(["invoke", str(event)]) == 1
    err = capsys.readouterr().err
    assert "unknown sample user 'nobody'" in err
    assert "Traceback" not in err
