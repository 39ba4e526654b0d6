"""A bounded cache whose entries are fresh for a fixed time, with explicit invalidation."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
Clock = Callable[[], float]


class TtlCache(Generic[K, V]):
    """Bounded (least recently used out first), each entry fresh for ``ttl`` seconds of
    ``timer``; expired entries are never returned. Thread-safe."""

    def __init__(self, ttl: float, maxsize: int, timer: Clock = time.monotonic) -> None:
        self.ttl, self.maxsize, self.timer = ttl, maxsize, timer
        self._data: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> tuple[V, float] | None:
        """(value, expires_at) while fresh."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[1] <= self.timer():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry

    def put(self, key: K, value: V) -> float:
        expires = self.timer() + self.ttl
        if self.ttl <= 0:
            return expires
        with self._lock:
            self._data[key] = (value, expires)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return expires

    def invalidate(self, keys: Iterable[K]) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
