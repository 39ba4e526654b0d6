"""bench/timing.py: rows measured in turns see each index once and alternate slice by slice, so a
machine's drift during the run moves every row alike."""

from __future__ import annotations

from bench.timing import measure_together


def test_rows_are_measured_in_turns_each_index_once() -> None:
    order: list[tuple[str, int]] = []
    calls = {label: (lambda i, label=label: order.append((label, i))) for label in ("a", "b")}
    rows = measure_together(calls, iterations=40, rounds=4, warmup=3, notes={"b": "note"})
    assert [r.label for r in rows] == ["a", "b"]
    assert rows[1].note == "note"
    warmup, timed = order[:6], order[6:]
    assert warmup == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2)]
    # Four rounds, each a slice of 10 calls of a then of b; indices continue after the warm-up.
    labels = [label for label, _ in timed]
    assert labels == (["a"] * 10 + ["b"] * 10) * 4
    for label in ("a", "b"):
        assert [i for name, i in timed if name == label] == list(range(3, 43))
    assert all(r.median_us >= 0 and r.p99_us >= r.median_us for r in rows)
