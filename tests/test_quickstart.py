"""The README's Quick start, run as written: `make run` starts the sample app, prints the tour, and
the tour's three curl commands answer 200, 403 and 401. (`make test`, the other command, is what
CI runs: .ci/run.)

`make run` runs in its own process group with PORT set to a free port and CEDAR_AUTHZ_HOME to a
temporary folder; it is stopped as Ctrl-C stops it (SIGINT to the group), and the test checks
that nothing of the group is left running."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

POLL_S = 0.25  # one wait for a line of output
STARTUP_TIMEOUT_S = 180.0  # `make run` may have to install the `local` extra first
STARTUP_ATTEMPTS = int(STARTUP_TIMEOUT_S / POLL_S)
STOP_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 10.0
LAST_TOUR_LINE = "Stop with Ctrl-C."
# "  # 200: alice ... reads an employee record" then "  curl -i URL [-H 'NAME: VALUE']"
TOUR_STEP = re.compile(r"^\s*#\s*(\d{3}):.*\n\s*(curl .+)$", re.MULTILINE)
# Variables a parent `make` passes down, and settings that would make `serve` leave its defaults.
UNSET = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "AUTH_ISSUER", "AUTH_JWKS_URL")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Copy a pipe's lines into a queue (None at its end), so reads can time out."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: ask the kernel whether the group still exists
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def stop_group(process: subprocess.Popen[str]) -> None:
    """Ctrl-C for the whole group, then SIGKILL if it has not gone within the timeout."""
    pgid = process.pid
    if process.poll() is None or group_members(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if process.poll() is None or group_members(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)


def http_status(argv: list[str]) -> int:
    """The status `curl -i URL [-H 'Name: value']...` gets, asked with urllib (no curl needed)."""
    assert argv[:2] == ["curl", "-i"], argv
    url, rest = argv[2], argv[3:]
    headers = {}
    while rest:
        flag, value, *rest = rest
        assert flag == "-H", argv
        name, _, field = value.partition(":")
        headers[name.strip()] = field.strip()
    assert url.startswith("http://127.0.0.1:"), url  # loopback only
    request = urllib.request.Request(url, headers=headers)  # http on loopback
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(request, timeout=REQUEST_TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def curl_status(argv: list[str]) -> int:
    """The same command run by curl itself, as a reader pastes it."""
    done = subprocess.run(  # the tour's own command, loopback URL checked
        [*argv, "--silent", "--max-time", str(REQUEST_TIMEOUT_S), "--noproxy", "*"],
        capture_output=True,
        text=True,
        timeout=REQUEST_TIMEOUT_S + 5,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status_line = done.stdout.splitlines()[0]  # "HTTP/1.1 200 OK"
    return int(status_line.split()[1])


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env |= {"PORT": str(port), "CEDAR_AUTHZ_HOME": str(tmp_path / "home")}
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            ["make", "run"],  # the README's command, make from PATH
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its own process group: SIGINT reaches make and serve
        )
    try:
        yield process, port, stderr_path
    finally:
        stop_group(process)
        if process.stdout is not None:
            process.stdout.close()
        assert group_members(process.pid) == [], "make run left processes behind"


def read_tour(process: subprocess.Popen[str], stderr_path: Path) -> str:
    """`make run`'s output up to the tour's last line, within the startup timeout."""
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=pump, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    for _ in range(STARTUP_ATTEMPTS):
        if time.monotonic() > deadline:
            break
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if line is None:
            break  # make exited before the tour was printed
        seen.append(line)
        if line.strip() == LAST_TOUR_LINE:
            return "".join(seen)
    pytest.fail(
        "`make run` printed no tour in time (exit code "
        f"{process.poll()}).\nstdout:\n{''.join(seen)}\nstderr:\n{stderr_path.read_text()}"
    )


def test_readme_quick_start_names_make_run_and_make_test() -> None:
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quick_start and "make test" in quick_start


def test_make_run_serves_the_tour(make_run: tuple[subprocess.Popen[str], int, Path]) -> None:
    process, port, stderr_path = make_run
    tour = read_tour(process, stderr_path)
    steps = [(int(status), shlex.split(command)) for status, command in TOUR_STEP.findall(tour)]
    assert [status for status, _ in steps] == [200, 403, 401], tour
    for status, argv in steps:
        assert argv[2].startswith(f"http://127.0.0.1:{port}/"), argv  # PORT was honoured
        assert http_status(argv) == status, (argv[2], stderr_path.read_text())
        if shutil.which("curl"):
            assert curl_status(argv) == status, argv[2]
    assert process.poll() is None, "make run stopped by itself"
