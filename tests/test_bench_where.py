"""bench.where: the child's loop is what perf samples (its control FIFOs), and perf's report is
read into the parts of the table."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from bench.instructions import sampled
from bench.where import parts_of

# `perf report -n --sort dso --stdio` of a Python loop, as perf 6.1 prints it.
REPORT = """\
# Samples: 2K of event 'cpu-clock:ppp'
# Event count (approx.): 508500000
#
# Overhead       Samples  Shared Object
# ........  ............  .....................................
#
    80.81%          1647  libpython3.11.so.1.0
    10.00%           200  _internal.cpython-311-x86_64-linux-gnu.so
     4.47%            91  [kernel.kallsyms]
     2.26%            46  libc.so.6
     2.02%            41  _json.cpython-311-x86_64-linux-gnu.so
     0.44%             9  ld-linux-x86-64.so.2
"""


def test_the_report_is_read_by_part() -> None:
    assert parts_of(REPORT) == {
        "Python": 1647, "Cedar": 200, "kernel": 91, "malloc": 46, "json": 41, "other": 9,
    }  # fmt: skip


def test_without_control_the_block_just_runs() -> None:
    ran = []
    with sampled(None):
        ran.append(True)
    assert ran == [True]


def test_perf_is_enabled_before_the_block_and_disabled_after(tmp_path: Path) -> None:
    """A stand-in for perf on the FIFOs: each command is acknowledged, and the block runs only
    between the acknowledged enable and the disable."""
    ctl, ack = tmp_path / "ctl", tmp_path / "ack"
    os.mkfifo(ctl)
    os.mkfifo(ack)
    seen: list[str] = []

    def perf() -> None:
        with open(ctl) as commands, open(ack, "w") as answers:
            for _ in range(2):
                seen.append(commands.readline().strip())
                answers.write("ack\n")
                answers.flush()

    def child() -> None:
        with sampled(f"{ctl},{ack}"):
            seen.append("block")

    # Daemon threads joined with a deadline: a protocol that deadlocks fails the test.
    threads = [threading.Thread(target=run, daemon=True) for run in (perf, child)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert seen == ["enable", "block", "disable"]
