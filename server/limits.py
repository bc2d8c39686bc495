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
        self._swept = clock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            self._events.pop(key, None)  # a key with nothing in its window holds no memory
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
            self._events[key] = events
            if now - self._swept >= self.window_s:
                self._sweep(now)
            return 0

    def _sweep(self, now: float) -> None:
        """Drop every key whose events all left the window (once a window: keys never asked again go too)."""
        self._swept = now
        for key in [k for k, events in self._events.items() if not events or events[-1] <= now - self.window_s]:
            del self._events[key]

    def undo(self, key: str) -> None:
        """Forget ``key``'s latest event (an attempt counted in advance that turned out fine)."""
        with self._lock:
            events = self._events.get(key)
            if events:
                events.pop()
                if not events:
                    del self._events[key]

    def __len__(self) -> int:
        """How many keys are held (for tests: keys are pruned, not kept forever)."""
        with self._lock:
            return len(self._events)

    def reset(self, key: str) -> None:
        """Forget ``key``'s events (a successful sign-in clears its failures)."""
        with self._lock:
            self._events.pop(key, None)


class LoginThrottle:
    """Blocks sign-in attempts after too many failures, without letting a stranger lock an account's owner out.

    Defaults, each within 15 minutes: 5 failures for one name from one address block that name from that
    address; 20 failures from one address block the address; 100 failures for one name from all addresses
    together block the name (a slower, distributed guess). Counting a name per address is what keeps a
    stranger's five wrong passwords from locking the owner out everywhere. A blocked attempt is refused before
    the password is even checked. The address is the client's as ``server.web_security`` establishes it
    (a proxy's forwarded address only from ``--trusted-proxy``), so a client cannot pick a fresh one per try.
    """

    def __init__(
        self,
        per_user: int = 5,
        per_address: int = 20,
        per_name_everywhere: int = 100,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pairs = SlidingWindow(per_user, window_s, clock)
        self._addresses = SlidingWindow(per_address, window_s, clock)
        self._names = SlidingWindow(per_name_everywhere, window_s, clock)
        self._reported = SlidingWindow(1, window_s, clock)  # one audit record per blocked name and address
        self._lock = threading.Lock()

    @staticmethod
    def _pair(name: str, address: str) -> str:
        return f"{name.lower()}\n{address}"

    def blocked_for(self, name: str, address: str) -> int:
        """Seconds until this name may try again from this address (0: may try now)."""
        return max(
            self._pairs.retry_after(self._pair(name, address)),
            self._addresses.retry_after(address),
            self._names.retry_after(name.lower()),
        )

    def reserve(self, name: str, address: str) -> int:
        """Count an attempt before its password is checked; returns 0, or the seconds to wait (nothing counted).

        Counting first is what bounds concurrent guesses: a hundred wrong passwords sent at once all found
        the name unblocked while the first were still being checked. ``succeeded`` takes a good one back.
        """
        with self._lock:
            wait = self.blocked_for(name, address)
            if not wait:
                self.failed(name, address)
            return wait

    def report_block(self, name: str, address: str) -> bool:
        """Whether this block is new enough to audit (once per name and address per window, not per try)."""
        return self._reported.hit(self._pair(name, address)) == 0

    def failed(self, name: str, address: str) -> None:
        """Count a failed attempt against the name at this address, the address, and the name everywhere."""
        self._pairs.hit(self._pair(name, address))
        self._addresses.hit(address)
        self._names.hit(name.lower())

    def succeeded(self, name: str, address: str) -> None:
        """A correct password: its reserved attempt is taken back and the name's failures at this address clear."""
        self._pairs.reset(self._pair(name, address))
        self._addresses.undo(address)
        self._names.undo(name.lower())
