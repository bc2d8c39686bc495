"""Sliding-window limits and sign-in throttling, on a clock the test moves."""

from __future__ import annotations

from server.limits import LoginThrottle, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_admits_the_limit_then_says_how_long_to_wait() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60.0, clock)
    assert [window.hit("a") for _ in range(3)] == [0, 0, 0]
    clock.now += 10
    assert window.hit("a") == 50  # the oldest of the three leaves the window in 50 s
    assert window.hit("b") == 0  # keys are counted apart
    clock.now += 50
    assert window.hit("a") == 0


def test_a_zero_limit_means_no_limit() -> None:
    window = SlidingWindow(0, 60.0, Clock())
    assert all(window.hit("a") == 0 for _ in range(1000))


def test_sign_in_is_blocked_per_name_after_five_failures_and_freed_by_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(per_user=5, per_address=20, window_s=900, clock=clock)
    for i in range(5):
        assert throttle.blocked_for("Alice", f"10.0.0.{i}") == 0
        throttle.failed("Alice", f"10.0.0.{i}")
    assert throttle.blocked_for("alice", "10.9.9.9") == 900  # any address, any capitalisation of the name
    assert throttle.blocked_for("bob", "10.0.0.1") == 0
    clock.now += 900
    assert throttle.blocked_for("alice", "10.0.0.1") == 0


def test_sign_in_is_blocked_per_address_across_names() -> None:
    clock = Clock()
    throttle = LoginThrottle(per_user=5, per_address=20, window_s=900, clock=clock)
    for i in range(20):
        throttle.failed(f"user{i}", "192.0.2.7")
    assert throttle.blocked_for("someone-new", "192.0.2.7") > 0
    assert throttle.blocked_for("someone-new", "192.0.2.8") == 0


def test_a_correct_password_clears_the_names_failures() -> None:
    throttle = LoginThrottle(per_user=5, per_address=20, window_s=900, clock=Clock())
    for _ in range(4):
        throttle.failed("carol", "192.0.2.1")
    throttle.succeeded("carol")
    throttle.failed("carol", "192.0.2.1")
    assert throttle.blocked_for("carol", "192.0.2.1") == 0
