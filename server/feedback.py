"""Thumbs up or down on an answer, with an optional comment: stored per user, exported for eval sets.

Each rating keeps the question, the answer and its citations as the user saw them (the ``rag ask --json``
object), so ``rag feedback export --json`` lists the questions the documents fail on, each with an
``eval_item`` (id, question, the cited sources) ready to complete into a line of an eval file
(``evals/qa.jsonl``: add the expected ``answers_all``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from rag.config import Settings
from server.db import Database, check_database
from server.paths import data_paths

__all__ = ["Feedback", "FeedbackStore", "export_feedback"]

MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class Feedback:
    """One rating: who, when, up or down, their comment, and the answer it is about."""

    id: int
    owner: str
    created: float
    rating: str  # "up" or "down"
    comment: str
    conversation: str | None
    answer: dict[str, Any]  # the rag ask --json object: question, answer, citations...

    def to_dict(self) -> dict[str, Any]:
        """The export's item: the rating with its answer, and the answer's question as an eval item."""
        sources = sorted({str(c.get("source")) for c in self.answer.get("citations", [])})
        return {
            "id": self.id,
            "user": self.owner,
            "created": self.created,
            "rating": self.rating,
            "comment": self.comment,
            "conversation": self.conversation,
            "question": self.answer.get("question", ""),
            "answer": self.answer.get("answer", ""),
            "citations": self.answer.get("citations", []),
            "eval_item": {"id": f"feedback-{self.id}", "question": self.answer.get("question", ""), "sources": sources},
        }


class FeedbackStore:
    """Ratings in the server's SQLite file (beside the conversations)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS feedback ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, created REAL NOT NULL,"
                " rating TEXT NOT NULL CHECK (rating IN ('up', 'down')), comment TEXT NOT NULL DEFAULT '',"
                " conversation TEXT, answer_json TEXT NOT NULL)"
            )

    def add(self, owner: str, rating: str, answer: dict[str, Any], conversation: str | None = None) -> int:
        """Store ``owner``'s rating (``"up"``/``"down"``) of ``answer``; returns its id."""
        if rating not in {"up", "down"}:
            raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO feedback (owner, created, rating, conversation, answer_json) VALUES (?, ?, ?, ?, ?)",
                (owner, time.time(), rating, conversation, json.dumps(answer, ensure_ascii=False)),
            )
        return int(cursor.lastrowid or 0)

    def comment(self, owner: str, feedback_id: int, comment: str) -> bool:
        """Set the comment of one of ``owner``'s ratings; False when it is not theirs."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE feedback SET comment = ? WHERE id = ? AND owner = ?",
                (comment.strip()[:MAX_COMMENT_CHARS], feedback_id, owner),
            )
        return cursor.rowcount > 0

    def all(self, owner: str | None = None) -> list[Feedback]:
        """Every rating (or ``owner``'s), oldest first."""
        query = "SELECT * FROM feedback" + (" WHERE owner = ?" if owner is not None else "") + " ORDER BY id"
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query, (owner,) if owner is not None else ()).fetchall()
        return [
            Feedback(
                r["id"],
                r["owner"],
                r["created"],
                r["rating"],
                r["comment"],
                r["conversation"],
                json.loads(r["answer_json"]),
            )
            for r in rows
        ]


def export_feedback(settings: Settings, *, user: str | None = None, as_json: bool = False) -> int:
    """``rag feedback export``: the server's ratings (of ``user``, or all) on stdout; returns the exit code.

    The database is the one ``rag serve`` uses with these settings (beside the users file when it exists).
    """
    users_file = settings.users_file if settings.users_file.exists() else None
    path = data_paths(users_file, settings.index_dir)[0]
    items: list[dict[str, Any]] = []
    if path.exists():
        check_database(path)
        db = Database(path)
        try:
            items = [f.to_dict() for f in FeedbackStore(db).all(user)]
        finally:
            db.close()
    if as_json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
    else:
        for item in items:
            comment = f" ({item['comment']})" if item["comment"] else ""
            print(f"{item['rating']:<4} {item['user'] or '-'}: {item['question']}{comment}")
        if not items:
            print(f"no ratings yet (in {path})")
    return 0
