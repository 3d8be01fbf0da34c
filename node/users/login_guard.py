"""The login policy (docs/design.md, "Login policy"): throttling with temporary lockouts per username
and per client address, and a bounded number of password checks at once.

Why: a password check is argon2id (tens of MB, tens to hundreds of ms of one core). Without a bound,
forty parallel logins fill the thread pool the whole API shares and every other request waits; without
throttling, passwords can be guessed at the speed of the CPU.

- Throttling: each failed login counts against the username (known or not, so a lockout says nothing
  about who exists) and against the client address. After `login_max_failures` failures of a username
  (`login_ip_max_failures` of an address) it is locked for `login_lockout_s`, doubling with every
  further failure after a lockout up to `login_lockout_max_s`. While locked, logins are answered
  429 `login_locked` with Retry-After, without checking the password, even if it is right. A success
  clears the username's counter; counts are forgotten `login_failure_window_s` after the last failure.
  The counters live in the node's memory (a restart clears them) and are bounded in number.
- Concurrency: at most `login_concurrency` password checks run at once (0: one per CPU core); a login
  beyond that is answered 503 `login_busy` with Retry-After at once, never queued.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from node.core.errors import LoginBusy, TooManyRequests

MAX_TRACKED = 10_000  # usernames / addresses with failures kept in memory (oldest forgotten first)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class _Counter:
    """Failures per key (a username or an address) with the lockout rule; bounded, thread-safe."""

    def __init__(self, threshold: int, lockout_s: float, lockout_max_s: float, window_s: float) -> None:
        self.threshold, self.lockout_s, self.lockout_max_s = threshold, lockout_s, lockout_max_s
        self.window_s = window_s
        self._rows: OrderedDict[str, _Failures] = OrderedDict()

    def _row(self, key: str, now: float) -> _Failures | None:
        row = self._rows.get(key)
        if row is not None and now - row.last > self.window_s and now >= row.locked_until:
            del self._rows[key]
            return None
        return row

    def locked_for(self, key: str, now: float) -> float:
        row = self._row(key, now)
        return max(0.0, row.locked_until - now) if row is not None else 0.0

    def failed(self, key: str, now: float) -> None:
        row = self._row(key, now) or _Failures()
        row.count += 1
        row.last = now
        if row.count >= self.threshold:
            doublings = row.count - self.threshold
            row.locked_until = now + min(self.lockout_max_s, self.lockout_s * 2 ** min(doublings, 32))
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > MAX_TRACKED:
            self._rows.popitem(last=False)

    def clear(self, key: str) -> None:
        self._rows.pop(key, None)


class LoginGuard:
    """The node's one login guard (see the module docstring)."""

    def __init__(self, settings: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        lockout, most, window = settings.login_lockout_s, settings.login_lockout_max_s, settings.login_failure_window_s
        self.users = _Counter(settings.login_max_failures, lockout, most, window)
        self.addresses = _Counter(settings.login_ip_max_failures, lockout, most, window)
        self.concurrency = settings.login_concurrency or os.cpu_count() or 1
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self.clock = clock

    def check(self, username: str, address: str | None) -> None:
        """429 `login_locked` if the username or the address is locked out now."""
        now = self.clock()
        with self._lock:
            wait = max(self.users.locked_for(username, now), self.addresses.locked_for(address or "-", now))
        if wait > 0:
            raise TooManyRequests(
                f"too many failed logins: try again in {math.ceil(wait)} s", retry_after_s=wait, reason="login_locked"
            )

    def failed(self, username: str, address: str | None) -> None:
        now = self.clock()
        with self._lock:
            self.users.failed(username, now)
            self.addresses.failed(address or "-", now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self.users.clear(username)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of the `concurrency` password-check slots, or 503 `login_busy` at once."""
        if not self._slots.acquire(blocking=False):
            raise LoginBusy("too many logins at once: try again in a moment", retry_after_s=1, reason="login_busy")
        try:
            yield
        finally:
            self._slots.release()
