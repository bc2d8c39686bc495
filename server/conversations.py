"""Saved conversations: each user's chats in SQLite, listed, reopened, continued and exported.

A conversation belongs to one owner (the user name; ``""`` when auth is off, so everyone shares one
history). Every lookup takes the owner, and a conversation of someone else reads exactly like one that does
not exist, so an id cannot be used to peek at another user's chat or to learn that it exists.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from server.db import Database

__all__ = ["Conversation", "ConversationStore", "Turn", "to_markdown"]

TITLE_CHARS = 60


@dataclass(frozen=True)
class Turn:
    """One question and its answer: the HTML the chat shows, and the ``rag ask --json`` object."""

    question: str
    answer_html: str
    answer: dict[str, Any]
    created: float

    def to_dict(self) -> dict[str, Any]:
        """The turn as exported: question, answer object, time."""
        return {"question": self.question, "answer": self.answer, "created": self.created}


@dataclass(frozen=True)
class Conversation:
    """A conversation's header (``turns`` filled only by ``ConversationStore.get``)."""

    id: str
    title: str
    created: float
    updated: float
    turns: tuple[Turn, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The conversation as JSON: id, title, times and every turn."""
        return {
            "id": self.id,
            "title": self.title,
            "created": self.created,
            "updated": self.updated,
            "turns": [t.to_dict() for t in self.turns],
        }


class ConversationStore:
    """Each owner's conversations, in the server's SQLite file."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS conversations ("
                " id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL,"
                " created REAL NOT NULL, updated REAL NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, updated)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS turns ("
                " conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,"
                " position INTEGER NOT NULL, question TEXT NOT NULL, answer_html TEXT NOT NULL,"
                " answer_json TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (conversation, position))"
            )

    def list(self, owner: str) -> list[Conversation]:
        """``owner``'s conversations, most recently updated first (without their turns)."""
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT id, title, created, updated FROM conversations WHERE owner = ? ORDER BY updated DESC",
                (owner,),
            ).fetchall()
        return [Conversation(r["id"], r["title"], r["created"], r["updated"]) for r in rows]

    def get(self, owner: str, conversation_id: str) -> Conversation | None:
        """One of ``owner``'s conversations with its turns; None if it is not theirs or does not exist."""
        with self.db.transaction(write=False) as conn:
            head = conn.execute(
                "SELECT id, title, created, updated FROM conversations WHERE id = ? AND owner = ?",
                (conversation_id, owner),
            ).fetchone()
            if head is None:
                return None
            rows = conn.execute(
                "SELECT question, answer_html, answer_json, created FROM turns WHERE conversation = ?"
                " ORDER BY position",
                (conversation_id,),
            ).fetchall()
        turns = tuple(Turn(r["question"], r["answer_html"], json.loads(r["answer_json"]), r["created"]) for r in rows)
        return Conversation(head["id"], head["title"], head["created"], head["updated"], turns)

    def append(
        self, owner: str, conversation_id: str | None, question: str, answer_html: str, answer: dict[str, Any]
    ) -> str:
        """Add a turn to ``owner``'s conversation, starting a new one when the id is None or not theirs.

        Returns the conversation's id.
        """
        now = time.time()
        with self.db.transaction() as conn:
            mine = (
                conversation_id is not None
                and conn.execute(
                    "SELECT 1 FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
                ).fetchone()
            )
            if not mine:
                conversation_id = uuid.uuid4().hex
                title = " ".join(question.split())
                title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"
                conn.execute(
                    "INSERT INTO conversations (id, owner, title, created, updated) VALUES (?, ?, ?, ?, ?)",
                    (conversation_id, owner, title, now, now),
                )
            position = conn.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM turns WHERE conversation = ?", (conversation_id,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, position, question, answer_html, json.dumps(answer, ensure_ascii=False), now),
            )
            conn.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        assert conversation_id is not None
        return conversation_id

    def delete(self, owner: str, conversation_id: str) -> bool:
        """Delete one of ``owner``'s conversations; returns whether it existed (and was theirs)."""
        with self.db.transaction() as conn:
            cursor = conn.execute("DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner))
        return cursor.rowcount > 0


def to_markdown(conversation: Conversation) -> str:
    """The conversation as Markdown: each question, its answer and the passages it cites."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(conversation.created))
    lines = [f"# {conversation.title}", "", f"*Started {stamp}.*", ""]
    for turn in conversation.turns:
        lines += [f"## {turn.question}", "", str(turn.answer.get("answer", "")).strip(), ""]
        if turn.answer.get("notice"):
            lines += [f"> {turn.answer['notice']}", ""]
        for c in turn.answer.get("citations", []):
            snippet = " ".join(str(c.get("text", "")).split())
            lines.append(f"- [{c.get('n')}] `{c.get('source')}` [{c.get('start')}:{c.get('end')}]: {snippet}")
        if turn.answer.get("citations"):
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
