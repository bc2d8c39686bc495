"""Rate limits: questions per minute per user, and throttled sign-ins per user and per address.

Both are sliding windows kept in memory by each server process (a restart forgets them; behind a load
balancer each process counts on its own, which bounds the total by limit x processes).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginThrottle", "SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` events per ``window_s`` seconds for each key; ``limit`` 0 means no limit."""

    def __init__(self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may act again (0: now), without counting an event."""
        if self.limit <= 0:
            return 0
        with self._lock:
            now = self._clock()
            events = self._recent(key, now)
            if len(events) < self.limit:
                return 0
            return max(1, math.ceil(events[0] + self.window_s - now))

    def hit(self, key: str) -> int:
        """Count one event for ``key`` if allowed; returns 0, or the seconds to wait when over the limit."""
        if self.limit <= 0:
            return 0
        with self._lock:
            now = self._clock()
            events = self._recent(key, now)
            if len(events) >= self.limit:
                return max(1, math.ceil(events[0] + self.window_s - now))
            events.append(now)
            return 0

    def reset(self, key: str) -> None:
        """Forget ``key``'s events (a successful sign-in clears its failures)."""
        with self._lock:
            self._events.pop(key, None)


class LoginThrottle:
    """Blocks sign-in attempts after too many failures for one user name or from one address.

    Defaults: 5 failures per name or 20 per address within 15 minutes block further attempts until the
    oldest failure leaves the window. A blocked attempt is refused before the password is even checked.
    """

    def __init__(
        self,
        per_user: int = 5,
        per_address: int = 20,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = SlidingWindow(per_user, window_s, clock)
        self._addresses = SlidingWindow(per_address, window_s, clock)

    def blocked_for(self, name: str, address: str) -> int:
        """Seconds until this name may try again from this address (0: may try now)."""
        return max(self._users.retry_after(name.lower()), self._addresses.retry_after(address))

    def failed(self, name: str, address: str) -> None:
        """Count a failed attempt against the name and the address."""
        self._users.hit(name.lower())
        self._addresses.hit(address)

    def succeeded(self, name: str) -> None:
        """A correct password clears the name's failures (the address keeps its count)."""
        self._users.reset(name.lower())
