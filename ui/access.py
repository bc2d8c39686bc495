"""What the chat page needs from the server that hosts it: who is asking, what they may do, their history.

The chat (``ui.app.build_app``) takes an optional ``ChatAccess``. Without one it is the open, single-user
page it always was. The server (``server.chat_access``) supplies one that knows the signed-in user, their
role, their question rate limit and their saved conversations. The UI only hides what a role cannot do;
the server refuses it anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import gradio as gr

from rag import Bot

__all__ = ["ChatAccess", "ConversationSummary", "Viewer"]


@dataclass(frozen=True)
class Viewer:
    """The person using the page: name, role and what that role lets them do."""

    name: str
    role: str
    signed_in: bool  # False when auth is off (everyone is an anonymous admin)
    can_upload: bool


@dataclass(frozen=True)
class ConversationSummary:
    """A saved conversation as the sidebar lists it."""

    id: str
    title: str
    updated: float


class ChatAccess(Protocol):
    """The server's side of the chat page."""

    def viewer(self, request: gr.Request) -> Viewer | None:
        """Who sent this request (None: nobody signed in)."""

    def admit_question(self, viewer: Viewer) -> str | None:
        """None if ``viewer`` may ask now, else a sentence saying why not (a rate limit, with the wait)."""

    def record(self, request: gr.Request, event: str, **details: Any) -> None:
        """Note ``event`` by the request's user in the audit log (an upload begun or done, a removal...)."""

    def sent(self, request: gr.Request, files: list[str]) -> bool:
        """Whether the request's own browser session uploaded every one of ``files`` (Gradio's paths)."""

    def editor_refusal(self, request: gr.Request, event: str, **details: Any) -> str | None:
        """None when the request's user may change documents (editor or admin); else a sentence saying why not.

        The one role check behind every control that changes documents or their indexing (upload, cancel,
        remove, re-index); a refusal is audited as ``<event>_refused``.
        """

    def collections(self, viewer: Viewer) -> list[str]:
        """The collections ``viewer`` may read, ``default`` first: what the chat's picker offers."""

    def open_collection(self, viewer: Viewer, name: str, request: gr.Request) -> Bot | None:
        """The bot of collection ``name`` through the server's one access check; None, as for no such name."""

    def save_turn(
        self,
        viewer: Viewer,
        conversation_id: str | None,
        question: str,
        answer_html: str,
        answer: dict[str, Any],
        collection: str = "default",
    ) -> str:
        """Save a question and its answer (asked in ``collection``); returns the conversation's id."""

    def conversations(self, viewer: Viewer) -> list[ConversationSummary]:
        """``viewer``'s saved conversations, most recent first."""

    def open_conversation(self, viewer: Viewer, conversation_id: str) -> list[tuple[str, str]] | None:
        """The (question, answer HTML) turns of one of ``viewer``'s conversations, or None if not theirs."""

    def rename_conversation(self, viewer: Viewer, conversation_id: str, title: str) -> bool:
        """Give one of ``viewer``'s conversations a new title; False when it is not theirs (or the title is empty)."""

    def delete_conversation(self, viewer: Viewer, conversation_id: str) -> bool:
        """Delete one of ``viewer``'s conversations; False when it is not theirs."""

    def rate_answer(self, viewer: Viewer, rating: str, answer: dict[str, Any], conversation_id: str | None) -> int:
        """Store ``viewer``'s rating (``"up"``/``"down"``) of ``answer`` (a ``rag ask --json`` object); its id."""

    def comment_rating(self, viewer: Viewer, feedback_id: int, comment: str) -> bool:
        """Set the comment of one of ``viewer``'s ratings; False when it is not theirs."""

    def list_users(self, viewer: Viewer | None) -> list[tuple[str, str, bool]]:
        """(name, role, has an API token) of every account, for admins; empty for anyone else."""

    def add_user(self, viewer: Viewer | None, name: str, role: str, password: str, request: gr.Request) -> str:
        """Create an account if ``viewer`` is an admin; returns a sentence saying what happened."""

    def remove_user(self, viewer: Viewer | None, name: str, request: gr.Request) -> str:
        """Remove an account if ``viewer`` is an admin; returns a sentence saying what happened."""
