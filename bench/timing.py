"""Medians and p99s of repeated calls (perf_counter_ns), after a warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping
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


def print_rows(title: str, rows: Iterable[tuple[str, float, float]]) -> None:
    """A stand-alone bench's output: its title, then its (label, median, p99) rows as a table."""
    print(title)
    print(table([Row(label, median, p99) for label, median, p99 in rows]))


def table(rows: list[Row]) -> str:
    width = max(len(r.label) for r in rows)
    lines = [f"{'measurement'.ljust(width)}  {'median us':>10}  {'p99 us':>10}"]
    lines += [
        f"{r.label.ljust(width)}  {r.median_us:10.1f}  {r.p99_us:10.1f}  {r.note}".rstrip()
        for r in rows
    ]
    return "\n".join(lines)


def measure_together(
    calls: Mapping[str, Callable[[int], object]],
    iterations: int,
    rounds: int = 20,
    warmup: int = 50,
    notes: Mapping[str, str] | None = None,
) -> list[Row]:
    """Like ``measure`` for each of ``calls``, but in turns: each round runs a slice of every
    call's iterations, so a shared machine speeding up or slowing down during the run moves all
    of them alike and the ratios between them hold. ``call(i)`` gets each i once (warm-up
    first), as ``measure`` does."""
    per_round = max(1, iterations // rounds)
    samples: dict[str, list[int]] = {label: [] for label in calls}
    for call in calls.values():
        for i in range(warmup):
            call(i)
    for start in range(warmup, warmup + per_round * rounds, per_round):
        for label, call in calls.items():
            timed = samples[label]
            for i in range(start, start + per_round):
                started = time.perf_counter_ns()
                call(i)
                timed.append(time.perf_counter_ns() - started)
    rows = []
    for label, timed in samples.items():
        timed.sort()
        p99 = timed[min(len(timed) - 1, int(len(timed) * 0.99))]
        note = (notes or {}).get(label, "")
        rows.append(Row(label, statistics.median(timed) / 1000, p99 / 1000, note))
    return rows
