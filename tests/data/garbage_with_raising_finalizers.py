"""Copied into a temporary folder by tests/test_harness.py and run by a pytest of its own (not collected here)."""

import itertools

LEFT = itertools.count()


class Broken:
    """Like a client whose constructor failed half way: its finalizer raises (and, here, leaves another)."""

    def __init__(self) -> None:
        self.me = self  # a cycle, so only the garbage collector frees it

    def __del__(self) -> None:
        if next(LEFT) < 300:
            Broken()
        raise AttributeError("half-built object has no attribute '_state'")


def test_fails_with_garbage_left_behind():
    Broken()
    assert 1 == 2


def test_runs_after():
    assert True
