"""Browser sessions: the cookie a signed-in browser carries, and who it belongs to.

The cookie holds a random 32-byte id; the database holds only its SHA-256, the user name and the expiry, so
a copy of the database cannot be replayed as a cookie. Sessions live in SQLite so that sign-out ends them
everywhere, across restarts and across server processes.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from server.db import Database

__all__ = ["SESSION_COOKIE", "SessionStore"]

SESSION_COOKIE = "rag_session"
SESSION_TTL_S = 7 * 24 * 3600  # a week, renewed by signing in again


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


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
