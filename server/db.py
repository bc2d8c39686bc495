"""One SQLite file for the server's own state (conversations, browser sessions), opened safely for threads.

The file lives beside the users file when auth is on, and in the index folder when it is off. WAL mode lets
readers and one writer work at once, and several server processes can share the file.

The file is never recreated or reset by rag: a damaged one stops ``rag serve`` at start (``check_database``,
exit 2, naming the file), and at run time a damaged or locked one raises ``StateUnavailable``, which the
server answers as a 503 JSON error (with ``Retry-After`` when it is only busy). Reads never take the write
lock, so a process holding it (a backup tool, another server's long write) delays only writes, for at most
``BUSY_TIMEOUT_S``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import ConfigError

__all__ = ["BUSY_TIMEOUT_S", "SQLITE_HEADER", "Database", "StateUnavailable", "check_database"]

BUSY_TIMEOUT_S = 5.0  # how long a write waits for another process's lock before the request gets a 503


class StateUnavailable(ConfigError):
    """The server's own state (the users file, the SQLite database) cannot be used: damaged, unreadable or busy.

    Attributes:
        retry_after_s: Seconds after which trying again may work (a busy database); None when it will not.
    """

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _unavailable(path: Path, exc: sqlite3.Error) -> StateUnavailable:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StateUnavailable(
            f"the database {path} is busy: another process holds its write lock ({text}); try again shortly",
            retry_after_s=5,
        )
    return StateUnavailable(
        f"cannot use the database {path} ({text}): restore it from a backup, or move it aside to start "
        "without saved conversations and sessions (rag never recreates or resets it)"
    )


def _state_error(exc: BaseException) -> bool:
    """SQLite errors that are about the file (damaged, locked, unreadable), not about rag's own statements."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


SQLITE_HEADER = b"SQLite format 3\x00"


def check_database(path: Path) -> None:
    """Raise ``StateUnavailable`` naming ``path`` when it exists and is not a sound SQLite database.

    Reads only (its header, then ``PRAGMA quick_check``); a missing file is fine (the server creates it). SQLite
    itself takes an empty file, or garbage shorter than a page, for an empty database and would write over
    it; here either is refused. Call it before this process opens the database: closing any other handle on
    the file drops the locks SQLite holds through its own (POSIX locks belong to the process).
    """
    if not path.exists():
        return
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StateUnavailable(f"cannot read the database {path}: {exc}") from None
    if header != SQLITE_HEADER:
        what = "is empty" if not header else "is not a SQLite database (its first bytes are not SQLite's header)"
        raise StateUnavailable(
            f"the database {path} {what}: restore it from a backup, or move it aside to start without saved "
            "conversations and sessions (rag never recreates or resets it)"
        )
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _unavailable(path, exc) from None
    if not result or result[0] != "ok":
        raise StateUnavailable(
            f"the database {path} is damaged (quick_check: {result[0] if result else 'no answer'}): restore it "
            "from a backup, or move it aside to start without saved conversations and sessions"
        )


class Database:
    """A SQLite connection shared by the server's threads, one statement group at a time.

    Raises:
        StateUnavailable: The file is damaged or unreadable (from the constructor and every transaction), or
            locked by another process for longer than ``busy_timeout_s`` (transactions).
    """

    def __init__(self, path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        try:
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, timeout=busy_timeout_s, isolation_level=None
            )
            if fresh:
                os.chmod(self.path, 0o600)  # conversations are private
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise _unavailable(self.path, exc) from None
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """The connection inside BEGIN ... COMMIT (ROLLBACK on error), held by this thread only.

        ``write=False`` reads without the write lock (WAL readers see the last commit and never wait).
        """
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.Error as exc:
                if _state_error(exc):
                    raise _unavailable(self.path, exc) from None
                raise
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and _state_error(exc):
                    raise _unavailable(self.path, exc) from None
                raise

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
