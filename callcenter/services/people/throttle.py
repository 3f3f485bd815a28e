"""Login throttling: after ``max_failures`` failed sign-ins within ``lockout_s`` seconds
a key (a username, an IP address) is locked for ``lockout_s`` seconds.

Keys are counted whether or not the username exists, so a locked account and a
made-up name get the same answer and the answer reveals nothing. This counter lives in
the process; the per-user lock is also written to the users table by the sign-in policy
(``signin.attempt_sign_in``), so it holds across web workers and restarts for real
accounts.

It lives on the service side, next to the policy that uses it (it imports nothing of
Flask); the web panel keeps one instance per process (``web.context.Panel.throttle``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 50_000


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(self, max_failures: int, lockout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max(1, max_failures)
        self.lockout_s = lockout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    def locked_for(self, key: str) -> float:
        """Seconds this key stays locked (0 when it may try)."""
        now = self._clock()
        with self._lock:
            record = self._records.get(key)
            return max(0.0, record.locked_until - now) if record else 0.0

    def failure(self, key: str) -> float:
        """Count a failed sign-in; returns the lock time it caused (0 when none)."""
        now = self._clock()
        with self._lock:
            if len(self._records) > MAX_KEYS:
                self._prune(now)
            record = self._records.setdefault(key, _Record())
            record.failures = [t for t in record.failures if now - t < self.lockout_s]
            record.failures.append(now)
            if len(record.failures) >= self.max_failures:
                record.failures.clear()
                record.locked_until = now + self.lockout_s
                return self.lockout_s
            return 0.0

    def success(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)

    def _prune(self, now: float) -> None:
        stale = [k for k, r in self._records.items()
                 if r.locked_until <= now and all(now - t >= self.lockout_s for t in r.failures)]
        for key in stale:
            del self._records[key]
