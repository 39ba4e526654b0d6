"""The README's commands work as written, pasted in order after `make run` (whose own commands,
and the tour's curl lines, tests/test_quickstart.py runs for real).

Each `.venv/bin/cedar-authz ...` line of the README's `sh` blocks runs in process (the console
script is `authorizer.tooling.cli:main`) in a copy of the repository, so that `format --write`
and the `/tmp` copy touch nothing here. Lines with `<placeholders>` are templates, not commands.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from authorizer.tooling.cli import main
from tests.conftest import ROOT

CLI = ".venv/bin/cedar-authz"
NOT_RUN_HERE = ("make ", "sam ", "curl ")  # test_quickstart runs make run and the curls
# Exit codes as the Cedar CLI's: the tour's `explain` is about alice's denied salary read.
EXPECTED_EXIT = {"explain": 2}


def readme_commands() -> list[str]:
    blocks = re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and "<" not in line]


def test_the_readme_has_the_tour_commands() -> None:
    commands = readme_commands()
    for word in ("token", "explain", "format --write", "validate", "test", "diff"):
        assert any(c.startswith(f"{CLI} {word}") for c in commands), word


def test_every_readme_command_works_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout = tmp_path / "cedar-authz"
    checkout.mkdir()
    for name in ("policies", "schemas", "entities", "events", "tests/authoring"):
        shutil.copytree(ROOT / name, checkout / name)
    for name in (
        "template.yaml",
        "tests/sample_app.tests.json",
        "tests/sample_app.cedartests.json",
    ):
        shutil.copy(ROOT / name, checkout / name)
    for name in [k for k in os.environ if k.startswith(("AUTH_", "CEDAR_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CEDAR_AUTHZ_HOME", str(tmp_path / "home"))  # make run's issuer keys
    monkeypatch.chdir(checkout)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    ran = []
    for line in readme_commands():
        command = line.replace("/tmp/", f"{scratch}/")
        if command.startswith(NOT_RUN_HERE):
            continue
        words = shlex.split(command)
        if words[:2] == ["cp", "-r"]:
            shutil.copytree(words[2], words[3])
        else:
            assert words[0] == CLI, command
            expected = EXPECTED_EXIT.get(words[1], 0)
            assert main(words[1:]) == expected, (command, capsys.readouterr())
        ran.append(command)
    output = capsys.readouterr()
    assert "Traceback" not in output.out + output.err
    assert len(ran) >= 7, ran
