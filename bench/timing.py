"""Medians and p99s of repeated calls (perf_counter_ns), after a warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    label: str
    median_us: float
    p99_us: float
    note: str = ""


def measure(
    label: str, call: Callable[[int], object], iterations: int, warmup: int = 50, note: str = ""
) -> Row:
    """``call(i)`` is timed for i in range(iterations), after ``warmup`` untimed calls."""
    for i in range(warmup):
        call(i)
    samples = []
    for i in range(iterations):
        started = time.perf_counter_ns()
        call(warmup + i)
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return Row(label, statistics.median(samples) / 1000, p99 / 1000, note)


def table(rows: list[Row]) -> str:
    width = max(len(r.label) for r in rows)
    lines = [f"{'measurement'.ljust(width)}  {'median us':>10}  {'p99 us':>10}"]
    lines += [
        f"{r.label.ljust(width)}  {r.median_us:10.1f}  {r.p99_us:10.1f}  {r.note}".rstrip()
        for r in rows
    ]
    return "\n".join(lines)
