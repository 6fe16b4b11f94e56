"""Deadlines on blocking socket reads, enforced from one shared background thread.

A streaming HTTP response is read by a thread blocked in `recv`; a socket timeout bounds each
read, but not the time to the first token, nor a whole generation. A `Watch` holds a deadline
for one socket; when it passes, the watchdog thread shuts the socket down (which wakes the
blocked `recv` at once) and records why, so the reader can raise the right error. A watch is
disarmed while its reader is elsewhere (e.g. suspended at a `yield`), so a slow consumer never
trips it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class Watch:
    """One socket's deadline; `expired` holds the reason once the watchdog has cut it off."""

    def __init__(self, watchdog: Watchdog, sock: socket.socket | None) -> None:
        self._watchdog = watchdog
        self._sock = sock
        self.deadline: float | None = None
        self.reason = ""
        self.expired: str | None = None
        self.active = True

    def arm(self, deadline: float, reason: str) -> None:
        """Cut the socket off at `deadline` (monotonic seconds) unless re-armed or disarmed first."""
        self._watchdog._arm(self, deadline, reason)

    def disarm(self) -> None:
        """No deadline until the next `arm`."""
        with self._watchdog._lock:
            self.deadline = None

    def close(self) -> None:
        """Stop watching for good (before the connection is released)."""
        with self._watchdog._lock:
            self.active = False
            self.deadline = None
            self._watchdog._watches.discard(self)

    def _cut(self) -> None:
        """Shut the socket down (called by the watchdog, with its lock held)."""
        self.expired = self.reason
        self.deadline = None
        if self._sock is None:
            return
        # The plain socket's shutdown, also under TLS: it wakes a recv blocked in another thread.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)


class Watchdog:
    """The thread that cuts off sockets whose deadline passed; started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._watches: set[Watch] = set()
        self._next_wake: float | None = None
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket | None) -> Watch:
        """A disarmed watch on `sock` (None: deadlines are only recorded, nothing is cut)."""
        watch = Watch(self, sock)
        with self._lock:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sillok-llm-deadlines", daemon=True)
                self._thread.start()
        return watch

    def _arm(self, watch: Watch, deadline: float, reason: str) -> None:
        with self._lock:
            if not watch.active or watch.expired:
                return
            watch.deadline, watch.reason = deadline, reason
            if self._next_wake is None or deadline < self._next_wake:
                self._wake.notify()

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                pending: list[float] = []
                for watch in list(self._watches):
                    if watch.deadline is None:
                        continue
                    if watch.deadline <= now:
                        watch._cut()
                    else:
                        pending.append(watch.deadline)
                self._next_wake = min(pending) if pending else None
                self._wake.wait(None if self._next_wake is None else self._next_wake - now)


WATCHDOG = Watchdog()
