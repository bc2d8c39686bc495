"""Keep one failing test from ending the whole run: a guard for CPython 3.11.0-3.11.7's AST counter.

Why: on those versions ``ast.parse`` keeps its recursion depth in state shared by every call (CPython
gh-106905, fixed in 3.11.8; Debian 12 ships 3.11.2). pytest parses source files with ``ast.parse`` to render
a failure. If the garbage collector runs in the middle of that parse and frees an object whose finalizer
raises (openai 3.x leaves such half-built clients behind when their constructor fails), pytest's
unraisable-exception hook formats that exception at once, and Python 3.11's traceback formatting calls
``ast.parse`` again, inside the first call. The inner call resets the shared depth, the outer one ends with
``SystemError: AST constructor recursion depth mismatch``, and pytest stops with INTERNALERROR: every test
after it goes unrun (seen here: at 45% of the suite, with 39 failures never listed).

Two defences, both only for the test run:

- ``ast.parse`` refuses to start inside another ``ast.parse`` of the same thread (a ``SyntaxError``, which
  the traceback module's caret finder already treats as "no carets"), and calls from two threads take turns;
- should rendering a failure still raise, the test is reported failed with Python's own traceback text, and
  the run goes on.

``tests/conftest.py`` imports this module, which installs the guard; ``pytest -p tests.ast_guard`` loads it
into any other run.
"""

from __future__ import annotations

import ast
import sys
import threading
import traceback
from collections.abc import Generator
from typing import Any

import pytest
from _pytest.reports import TestReport
from _pytest.runner import CallInfo

AFFECTED = (3, 11) <= sys.version_info[:3] < (3, 11, 8)

_original_parse = ast.parse
_turn = threading.RLock()
_inside = threading.local()


def _guarded_parse(source: Any, *args: Any, **kwargs: Any) -> Any:
    if getattr(_inside, "parsing", False):
        raise SyntaxError("ast.parse called inside ast.parse (refused: CPython gh-106905)")
    with _turn:
        _inside.parsing = True
        try:
            return _original_parse(source, *args, **kwargs)
        finally:
            _inside.parsing = False


def install() -> None:
    """Guard ``ast.parse`` on the affected Pythons (a no-op elsewhere, and when already installed)."""
    if AFFECTED:
        ast.parse = _guarded_parse  # type: ignore[assignment]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: CallInfo[None]) -> Generator[None, TestReport, TestReport]:
    """Report a test whose failure cannot be rendered as failed, with Python's traceback, instead of crashing."""
    try:
        return (yield)
    except Exception as rendering_error:
        failure = call.excinfo.value if call.excinfo is not None else None
        text = "".join(traceback.format_exception(failure)) if failure is not None else ""
        note = f"(pytest could not render this failure: {rendering_error!r}; Python's own traceback follows)\n"
        return TestReport(
            item.nodeid,
            item.location,
            dict.fromkeys(item.keywords, 1),
            "failed",
            note + text,
            call.when,
            duration=call.duration,
            start=call.start,
            stop=call.stop,
        )


install()
