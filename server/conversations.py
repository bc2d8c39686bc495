"""Saved conversations: each user's chats in SQLite, listed, reopened, continued and exported.

A conversation belongs to one owner (the user name; ``""`` when auth is off, so everyone shares one
history). Every lookup takes the owner, and a conversation of someone else reads exactly like one that does
not exist, so an id cannot be used to peek at another user's chat or to learn that it exists.

Each conversation also belongs to the collection it was asked in (``default`` for older ones): a caller
passes the collections the owner may read now, and a conversation of any other reads as absent too, so a
revoked grant also closes the answers it once gave.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from rag.answer.types import format_place
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
    collection: str = "default"

    def to_dict(self) -> dict[str, Any]:
        """The conversation as JSON: id, title, times and every turn."""
        return {
            "id": self.id,
            "title": self.title,
            "created": self.created,
            "updated": self.updated,
            "collection": self.collection,
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
            columns = {row[1] for row in conn.execute("PRAGMA table_info(conversations)")}
            if "collection" not in columns:  # a database from before collections: all of it was default's
                conn.execute("ALTER TABLE conversations ADD COLUMN collection TEXT NOT NULL DEFAULT 'default'")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS turns ("
                " conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,"
                " position INTEGER NOT NULL, question TEXT NOT NULL, answer_html TEXT NOT NULL,"
                " answer_json TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (conversation, position))"
            )

    def list(self, owner: str, collections: Collection[str] | None = None) -> list[Conversation]:
        """``owner``'s conversations, most recently updated first (without their turns).

        ``collections``: only those asked in these collections (the ones ``owner`` may read); None: all.
        """
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT id, title, created, updated, collection FROM conversations WHERE owner = ?"
                " ORDER BY updated DESC",
                (owner,),
            ).fetchall()
        return [
            Conversation(r["id"], r["title"], r["created"], r["updated"], collection=r["collection"])
            for r in rows
            if collections is None or r["collection"] in collections
        ]

    def get(self, owner: str, conversation_id: str, collections: Collection[str] | None = None) -> Conversation | None:
        """One of ``owner``'s conversations with its turns; None if it is not theirs or does not exist.

        ``collections``: None too when it was asked in a collection outside these.
        """
        with self.db.transaction(write=False) as conn:
            head = conn.execute(
                "SELECT id, title, created, updated, collection FROM conversations WHERE id = ? AND owner = ?",
                (conversation_id, owner),
            ).fetchone()
            if head is None or (collections is not None and head["collection"] not in collections):
                return None
            rows = conn.execute(
                "SELECT question, answer_html, answer_json, created FROM turns WHERE conversation = ?"
                " ORDER BY position",
                (conversation_id,),
            ).fetchall()
        turns = tuple(Turn(r["question"], r["answer_html"], json.loads(r["answer_json"]), r["created"]) for r in rows)
        return Conversation(head["id"], head["title"], head["created"], head["updated"], turns, head["collection"])

    def append(
        self,
        owner: str,
        conversation_id: str | None,
        question: str,
        answer_html: str,
        answer: dict[str, Any],
        collection: str = "default",
    ) -> str:
        """Add a turn to ``owner``'s conversation, starting a new one when the id is None or not theirs.

        A conversation stays in one collection: a turn asked in another starts a new conversation.
        Returns the conversation's id.
        """
        now = time.time()
        with self.db.transaction() as conn:
            mine = (
                conversation_id is not None
                and conn.execute(
                    "SELECT 1 FROM conversations WHERE id = ? AND owner = ? AND collection = ?",
                    (conversation_id, owner, collection),
                ).fetchone()
            )
            if not mine:
                conversation_id = uuid.uuid4().hex
                title = " ".join(question.split())
                title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"
                # Unique among the owner's titles ("... (2)"), so two chats on one question can be told apart.
                taken = {r[0] for r in conn.execute("SELECT title FROM conversations WHERE owner = ?", (owner,))}
                base, n = title, 2
                while title in taken:
                    title, n = f"{base} ({n})", n + 1
                conn.execute(
                    "INSERT INTO conversations (id, owner, title, created, updated, collection)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (conversation_id, owner, title, now, now, collection),
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

    def rename(self, owner: str, conversation_id: str, title: str) -> bool:
        """Give one of ``owner``'s conversations a new title (one line, at most ``TITLE_CHARS``); False if not."""
        title = " ".join(title.split())[:TITLE_CHARS]
        if not title:
            return False
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND owner = ?", (title, conversation_id, owner)
            )
        return cursor.rowcount > 0

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
            # Where a person finds it: the page (and printed label) and section of a PDF, not only offsets.
            place = format_place("", c.get("page"), c.get("page_label"), c.get("section")).strip()
            where = f" {place}" if place else ""
            lines.append(
                f"- [{c.get('n')}] `{c.get('source')}`{where} (chars {c.get('start')}-{c.get('end')}): {snippet}"
            )
        if turn.answer.get("citations"):
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
