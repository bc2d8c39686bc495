"""The server's side of the chat page (``ui.access.ChatAccess``): users, rate limits, saved conversations."""

from __future__ import annotations

from typing import Any

import gradio as gr

from rag import Bot
from rag.bot.registry import DEFAULT
from rag.errors import ConfigError
from server.api import ServerState
from server.auth import ANONYMOUS, ApiError
from server.feedback import FeedbackStore
from server.sessions import SESSION_COOKIE, session_key
from server.users import User, UserStore
from ui.access import ConversationSummary, Viewer

__all__ = ["ServerChatAccess"]


class ServerChatAccess:
    """Answers the chat page's questions about the user from the server's state."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.feedback = FeedbackStore(state.conversations.db)  # ratings live beside the conversations

    def _user(self, viewer: Viewer) -> User:
        """The viewer's account as it is now (its groups decide its collections); ANONYMOUS with auth off."""
        users = self.state.auth.users
        current = users.get(viewer.name) if users is not None else ANONYMOUS
        return current or User(viewer.name, "reader")  # a removed account reads nothing it was granted

    def _owner(self, viewer: Viewer) -> str:
        return viewer.name if self.state.auth.enabled else ""

    def viewer(self, request: gr.Request) -> Viewer | None:
        """The signed-in user of a Gradio request (Gradio passes on the server's ``auth_dependency``)."""
        auth = self.state.auth
        if not auth.enabled:
            return Viewer(ANONYMOUS.name, ANONYMOUS.role, signed_in=False, can_upload=True)
        name = getattr(request, "username", None)
        user = auth.users.get(name) if auth.users and name else None
        if user is None:
            return None
        return Viewer(user.name, user.role, signed_in=True, can_upload=user.can("editor"))

    def admit_question(self, viewer: Viewer) -> str | None:
        """None, or the rate-limit message with the wait."""
        wait = self.state.admit_question(self._user(viewer))
        if not wait:
            return None
        return f"Too many questions: the limit is {self.state.questions.limit} a minute. Try again in {wait} s."

    def record(self, request: gr.Request, event: str, **details: Any) -> None:
        """Audit ``event`` by the request's user (their role included)."""
        viewer = self.viewer(request)
        role = viewer.role if viewer else None
        user = viewer.name if viewer else None
        self.state.auth.audit.record(event, user=user, source=_address(request), role=role, **details)

    def sent(self, request: gr.Request, files: list[str]) -> bool:
        """Whether the request's own browser session uploaded every one of ``files``."""
        auth = self.state.auth
        cookies = getattr(request, "cookies", None) or {}
        key = session_key(cookies.get(SESSION_COOKIE)) if auth.enabled else ""
        return auth.received.sent(key, files)

    def editor_refusal(self, request: gr.Request, event: str, **details: Any) -> str | None:
        """None for an editor or admin who reads ``default``; otherwise why not, audited as ``<event>_refused``.

        The chat's document controls change ``default``'s folder, and editors edit only what they can read.
        """
        viewer = self.viewer(request)
        if viewer is not None and viewer.can_upload:
            if self.open_collection(viewer, DEFAULT, request) is not None:
                return None
            self.record(request, f"{event}_refused", **details)
            return "You cannot change these documents."
        if viewer is not None:
            self.record(request, f"{event}_refused", **details)
        return f"This needs the editor role; you are {viewer.role if viewer else 'signed out'}."

    def collections(self, viewer: Viewer) -> list[str]:
        """The collections the viewer may read, ``default`` first."""
        return self.state.readable(self._user(viewer))

    def open_collection(self, viewer: Viewer, name: str, request: gr.Request) -> Bot | None:
        """The collection's bot through the server's one access check (refusals audited there), or None."""
        try:
            return self.state.open_collection(self._user(viewer), name, _address(request))
        except ApiError:
            return None

    def save_turn(
        self,
        viewer: Viewer,
        conversation_id: str | None,
        question: str,
        answer_html: str,
        answer: dict[str, Any],
        collection: str = DEFAULT,
    ) -> str:
        """Save a question and answer into the viewer's conversation (a new one when needed)."""
        owner = self._owner(viewer)
        return self.state.conversations.append(owner, conversation_id, question, answer_html, answer, collection)

    def conversations(self, viewer: Viewer) -> list[ConversationSummary]:
        """The viewer's saved conversations, in the collections they may read now."""
        listed = self.state.conversations.list(self._owner(viewer), self.collections(viewer))
        return [ConversationSummary(c.id, c.title, c.updated) for c in listed]

    def open_conversation(self, viewer: Viewer, conversation_id: str) -> list[tuple[str, str]] | None:
        """The turns of one of the viewer's conversations, or None."""
        conversation = self.state.conversations.get(self._owner(viewer), conversation_id, self.collections(viewer))
        if conversation is None:
            return None
        return [(t.question, t.answer_html) for t in conversation.turns]

    def rename_conversation(self, viewer: Viewer, conversation_id: str, title: str) -> bool:
        """Rename one of the viewer's conversations."""
        return self.state.conversations.rename(self._owner(viewer), conversation_id, title)

    def delete_conversation(self, viewer: Viewer, conversation_id: str) -> bool:
        """Delete one of the viewer's conversations (as ``DELETE /api/conversations/{id}`` does)."""
        return self.state.conversations.delete(self._owner(viewer), conversation_id)

    def rate_answer(self, viewer: Viewer, rating: str, answer: dict[str, Any], conversation_id: str | None) -> int:
        """Store the viewer's thumbs up or down on ``answer``; returns the rating's id."""
        return self.feedback.add(self._owner(viewer), rating, answer, conversation_id)

    def comment_rating(self, viewer: Viewer, feedback_id: int, comment: str) -> bool:
        """Add the viewer's comment to one of their ratings."""
        return self.feedback.comment(self._owner(viewer), feedback_id, comment)

    def _admin(self, viewer: Viewer | None) -> UserStore | None:
        users = self.state.auth.users
        return users if users is not None and viewer is not None and viewer.role == "admin" else None

    def list_users(self, viewer: Viewer | None) -> list[tuple[str, str, bool]]:
        """Every account, for an admin."""
        users = self._admin(viewer)
        return [(u.name, u.role, token) for u, token in users.users()] if users else []

    def add_user(self, viewer: Viewer | None, name: str, role: str, password: str, request: gr.Request) -> str:
        """Create an account (admins only), audited."""
        users = self._admin(viewer)
        if users is None or viewer is None:
            return "Only admins manage users."
        try:
            added = users.add(name, role, password)
        except ConfigError as exc:
            return f"Not added: {exc}"
        self.state.auth.audit.record(
            "user_added", user=viewer.name, source=_address(request), target=added.name, role=added.role
        )
        return f"Added {added.name} ({added.role})."

    def remove_user(self, viewer: Viewer | None, name: str, request: gr.Request) -> str:
        """Remove an account (admins only, never one's own), audited; ends its sessions."""
        users = self._admin(viewer)
        if users is None or viewer is None:
            return "Only admins manage users."
        if name == viewer.name:
            return "You cannot remove your own account; ask another admin."
        try:
            users.remove(name)
        except ConfigError as exc:
            return f"Not removed: {exc}"
        self.state.auth.sessions.end_all(name)
        self.state.auth.audit.record("user_removed", user=viewer.name, source=_address(request), target=name)
        return f"Removed {name}."


def _address(request: gr.Request) -> str | None:
    client = getattr(request, "client", None)
    return getattr(client, "host", None)
