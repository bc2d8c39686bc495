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


def test_sign_in_is_blocked_per_name_and_address_after_five_failures_and_freed_by_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(per_user=5, per_address=20, window_s=900, clock=clock)
    for _ in range(5):
        assert throttle.blocked_for("Alice", "10.0.0.1") == 0
        throttle.failed("Alice", "10.0.0.1")
    assert throttle.blocked_for("alice", "10.0.0.1") == 900  # any capitalisation of the name
    assert throttle.blocked_for("alice", "10.9.9.9") == 0  # a stranger's failures do not lock the owner out
    assert throttle.blocked_for("bob", "10.0.0.1") == 0
    clock.now += 900
    assert throttle.blocked_for("alice", "10.0.0.1") == 0


def test_a_name_guessed_from_many_addresses_is_blocked_everywhere() -> None:
    throttle = LoginThrottle(per_user=5, per_address=20, per_name_everywhere=100, window_s=900, clock=Clock())
    for i in range(100):
        throttle.failed("alice", f"10.0.{i // 4}.{i % 4}")
    assert throttle.blocked_for("alice", "10.9.9.9") > 0
    assert throttle.blocked_for("bob", "10.9.9.9") == 0


def test_a_block_is_reported_once_per_name_and_address() -> None:
    throttle = LoginThrottle(clock=Clock())
    assert [throttle.report_block("alice", "10.0.0.1") for _ in range(3)] == [True, False, False]
    assert throttle.report_block("alice", "10.0.0.2")


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
    throttle.succeeded("carol", "192.0.2.1")
    throttle.failed("carol", "192.0.2.1")
    assert throttle.blocked_for("carol", "192.0.2.1") == 0


def test_an_attempt_is_counted_before_its_password_is_checked_and_a_good_one_taken_back() -> None:
    throttle = LoginThrottle(per_user=5, per_address=20, window_s=900, clock=Clock())
    waits = [throttle.reserve("dave", "192.0.2.9") for _ in range(8)]  # eight at once, none checked yet
    assert waits[:5] == [0] * 5 and all(w > 0 for w in waits[5:])
    other = LoginThrottle(per_user=5, per_address=20, window_s=900, clock=Clock())
    for _ in range(30):
        assert other.reserve("erin", "192.0.2.10") == 0
        other.succeeded("erin", "192.0.2.10")  # right passwords never add up to a block


def test_keys_whose_events_left_the_window_are_dropped() -> None:
    clock = Clock()
    window = SlidingWindow(5, 60.0, clock)
    for i in range(1000):
        window.hit(f"name-{i}")
    assert len(window) == 1000
    clock.now += 61
    window.hit("someone")
    assert len(window) == 1
