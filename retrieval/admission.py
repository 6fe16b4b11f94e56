"""Admission control: a bounded number of concurrent generations per process and a short wait.

A request that finds every slot busy waits at most `queue_timeout_s` for one to free, then gets
`Overloaded` (429) with a `retry_after` estimated from how long slots are held; there is no
unbounded queue. Slots are thread-safe (FastAPI runs sync generators in a thread pool) and
releasing one twice is harmless, so a stream can release it however it ends.
"""

from __future__ import annotations

import math
import threading
import time
from types import TracebackType

from core.errors import Overloaded

_SMOOTHING = 0.2  # weight of the newest hold time in the moving average
MAX_RETRY_AFTER_S = 30


class Slot:
    """One admitted generation; `release` (or leaving the `with` block) frees it, once."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._since = time.monotonic()
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        """Free the slot; later calls do nothing."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._admission._release(time.monotonic() - self._since)

    def __enter__(self) -> Slot:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class Admission:
    """At most `max_concurrent` slots held at once; `acquire` waits up to `queue_timeout_s`."""

    def __init__(self, max_concurrent: int, queue_timeout_s: float, what: str = "the language model") -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.max_concurrent = max_concurrent
        self.queue_timeout_s = max(0.0, queue_timeout_s)
        self._what = what
        self._in_use = 0
        self._mean_hold_s = 0.0
        self._freed = threading.Condition()

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        with self._freed:
            return self._in_use

    def retry_after(self) -> int:
        """Seconds after which a slot is likely free: the mean hold time spread over the slots."""
        with self._freed:
            mean = self._mean_hold_s
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(mean / self.max_concurrent)))

    def acquire(self) -> Slot:
        """A slot, or `Overloaded` when none frees within the queue timeout."""
        with self._freed:
            if self._wait_for_free():
                self._in_use += 1
                return Slot(self)
        raise self._overloaded()

    def check(self) -> None:
        """Return when a slot is free (without taking it), or raise `Overloaded` after the queue
        timeout: lets a request that would be refused anyway stop before doing its other work."""
        with self._freed:
            if self._wait_for_free():
                return
        raise self._overloaded()

    def _wait_for_free(self) -> bool:
        return self._freed.wait_for(lambda: self._in_use < self.max_concurrent, self.queue_timeout_s)

    def _overloaded(self) -> Overloaded:
        retry = self.retry_after()
        busy = self.in_use
        return Overloaded(
            f"{self._what} is busy ({busy} answers in progress); try again in {retry} s", retry_after=retry
        )

    def _release(self, held_s: float) -> None:
        with self._freed:
            self._in_use -= 1
            self._mean_hold_s = (
                held_s
                if self._mean_hold_s == 0
                else (1 - _SMOOTHING) * self._mean_hold_s + _SMOOTHING * held_s
            )
            self._freed.notify()
