"""Browser sessions: the cookie a signed-in browser carries, and who it belongs to.

The cookie holds a random 32-byte id; the database holds only its SHA-256, the user name and the expiry, so
a copy of the database cannot be replayed as a cookie. Sessions live in SQLite so that sign-out ends them
everywhere, across restarts and across server processes.

``ReceivedFiles`` remembers, in memory, which files each browser session uploaded to Gradio, so that an event
can only use the files its own session sent (never another user's, never a path it merely names).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from server.db import Database

__all__ = ["SESSION_COOKIE", "ReceivedFiles", "SessionStore", "session_key"]

SESSION_COOKIE = "rag_session"
SESSION_TTL_S = 7 * 24 * 3600  # a week, renewed by signing in again


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def session_key(session_id: str | None) -> str:
    """What ``ReceivedFiles`` files a browser's uploads under: its session's digest ("" without a session)."""
    return _digest(session_id) if session_id else ""


class ReceivedFiles:
    """Which uploaded files (Gradio's paths) each browser session sent, for an hour; at most 1,000 a session.

    With accounts off every browser is the same anonymous user, so they share the key "".
    """

    def __init__(self, keep_s: float = 3600.0, per_session: int = 1000) -> None:
        self.keep_s = keep_s
        self.per_session = per_session
        self._files: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def add(self, key: str, paths: Iterable[str]) -> None:
        """Note that the session ``key`` uploaded ``paths``."""
        now = time.monotonic()
        with self._lock:
            for stale in [k for k, files in self._files.items() if max(files.values()) < now - self.keep_s]:
                del self._files[stale]
            files = self._files.setdefault(key, {})
            files.update({str(Path(p).resolve()): now for p in paths})
            for oldest in sorted(files, key=files.__getitem__)[: max(0, len(files) - self.per_session)]:
                del files[oldest]

    def sent(self, key: str, paths: Iterable[str]) -> bool:
        """Whether the session ``key`` uploaded every one of ``paths`` within the last hour."""
        now = time.monotonic()
        with self._lock:
            files = self._files.get(key, {})
            return all(files.get(str(Path(p).resolve()), -1e18) >= now - self.keep_s for p in paths)


class SessionStore:
    """Creates, looks up and ends browser sessions."""

    def __init__(self, db: Database, ttl_s: float = SESSION_TTL_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        with db.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sessions ("
                " id_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL)"
            )
            conn.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))

    def create(self, user: str) -> str:
        """Start a session for ``user``; returns the id to put in the cookie."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (id_sha256, user, created, expires) VALUES (?, ?, ?, ?)",
                (_digest(session_id), user, now, now + self.ttl_s),
            )
        return session_id

    def user(self, session_id: str | None) -> str | None:
        """The user name of a live session, or None."""
        if not session_id:
            return None
        with self.db.transaction(write=False) as conn:
            row = conn.execute(
                "SELECT user FROM sessions WHERE id_sha256 = ? AND expires > ?", (_digest(session_id), time.time())
            ).fetchone()
        return str(row["user"]) if row else None

    def end(self, session_id: str | None) -> None:
        """End a session (sign-out)."""
        if session_id:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM sessions WHERE id_sha256 = ?", (_digest(session_id),))

    def end_all(self, user: str) -> None:
        """End every session of ``user`` (account removed or password changed)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE user = ?", (user,))
