"""The REST API beside the chat: ``POST /api/ask``, who am I, saved conversations, accounts (admin).

Every route takes ``Authorization: Bearer TOKEN`` when auth is on (see ``server.auth``) and answers errors
as ``{"error": message}`` with the right status. FastAPI documents them all at ``/docs`` (OpenAPI at
``/openapi.json``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

import rag
from rag.answer import wire
from rag.bot.library import Library
from rag.bot.registry import DEFAULT, Reader, shown
from rag.errors import CollectionNotFound
from server.auth import ApiError, Auth, client_address, require_role
from server.conversations import ConversationStore, to_markdown
from server.limits import SlidingWindow
from server.users import User, UserStore

__all__ = ["AskRequest", "ServerState", "api_router", "fallback_router", "reader_of"]

logger = logging.getLogger("rag.server")


@dataclass
class ServerState:
    """What the routes share: the bot, who is who, the saved conversations and the question limiter.

    ``library`` holds every collection (``default`` is ``bot``); ``open_collection`` is the one access check
    every door calls before it searches, lists or reads anything of a collection.
    """

    bot: rag.Bot
    auth: Auth
    conversations: ConversationStore
    questions: SlidingWindow
    library: Library = field(init=False)

    def __post_init__(self) -> None:
        self.library = Library(self.bot.settings, default_bot=self.bot)

    def readable(self, user: User) -> list[str]:
        """The collections ``user`` may read, ``default`` first (what every listing of collections shows)."""
        return self.library.readable(reader_of(user))

    def open_collection(self, user: User, name: str | None, source: str | None) -> rag.Bot:
        """The bot of collection ``name`` (None: ``default``) if ``user`` may read it: the one access check.

        Raises:
            ApiError: 404 ``no collection named ...`` for a collection ``user`` may not read, exactly as for one
                that does not exist; both are audited as ``collection_denied``, so the two cost the same.
        """
        wanted = DEFAULT if name is None else name
        try:
            return self.library.open(wanted, reader_of(user))
        except CollectionNotFound as exc:
            self.auth.audit.record("collection_denied", user=user.name, source=source, collection=shown(wanted))
            raise ApiError(404, str(exc).split(";")[0]) from None

    def admit_question(self, user: User) -> int:
        """Count a question against ``user``'s per-minute limit; returns 0 or the seconds to wait."""
        return self.questions.hit(user.name)

    def limit_question(self, user: User) -> None:
        """Count a question against ``user``'s limit, or raise ``ApiError`` 429 with ``Retry-After``.

        Every door that answers questions over HTTP calls this: ``/api/ask``, ``/v1`` and the MCP ``ask`` tool.
        """
        wait = self.admit_question(user)
        if wait:
            raise ApiError(
                429, f"too many questions: the limit is {self.questions.limit} a minute", {"Retry-After": str(wait)}
            )


class AskRequest(BaseModel):
    """A question for ``POST /api/ask``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The question, in plain words.", examples=["Who signed the agreement?"])
    k: int | None = Field(default=None, ge=1, le=100, description="Passages to retrieve (default: the server's).")
    sources: list[str] | None = Field(
        default=None, description="Only search these documents (names or glob patterns); all when omitted."
    )
    collection: str = Field(
        default=DEFAULT, description="The collection to answer from (GET /api/collections lists yours).", max_length=200
    )


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str


class NewUser(BaseModel):
    """An account to create through ``POST /api/users``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: Literal["reader", "editor", "admin"]
    password: str = Field(min_length=8, description="At least 8 characters; stored only as a scrypt hash.")


class Me(BaseModel):
    """The caller's account."""

    name: str
    role: str
    auth: bool = Field(description="Whether the server has accounts (false: everyone is an anonymous admin).")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or an unknown or revoked one."},
    403: {"model": ErrorBody, "description": "The token's user has too low a role."},
}


def reader_of(user: User) -> Reader:
    """Who ``user`` is to the collections registry: their name, groups, and whether they are an admin."""
    return Reader(user.name, user.groups, admin=user.role == "admin")


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.rag
    return state


def _owner(user: User, state: ServerState) -> str:
    """Whose conversations these are: the user's, or the one shared history when auth is off."""
    return user.name if state.auth.enabled else ""


def api_router() -> APIRouter:
    """The ``/api`` routes."""
    router = APIRouter(prefix="/api", responses=ERRORS)
    reader = Depends(require_role("reader"))
    admin = Depends(require_role("admin"))

    @router.post(
        "/ask",
        summary="Answer a question with cited passages",
        responses={
            400: {"model": ErrorBody, "description": "A question that cannot be asked (empty, too long...)."},
            429: {"model": ErrorBody, "description": "Too many questions this minute; see Retry-After."},
        },
    )
    async def ask(body: AskRequest, request: Request, user: User = reader) -> dict[str, Any]:
        """Answer ``question``; returns exactly the JSON object of ``rag ask --json``."""
        state = _state(request)
        bot = await run_in_threadpool(state.open_collection, user, body.collection, client_address(request))
        state.limit_question(user)
        try:  # sources: answer only from those documents (names or glob patterns); one matching none is a 400
            answer = await run_in_threadpool(bot.ask, body.question, k=body.k, sources=body.sources)
        except rag.QuestionError as exc:
            raise ApiError(400, str(exc)) from None
        return wire.ask_json(answer)

    @router.get("/collections", summary="The collections the caller may read")
    def list_collections(request: Request, user: User = reader) -> list[dict[str, Any]]:
        """The caller's collections, `default` first: only those they may read, as if no other existed."""
        return [{"name": name} for name in _state(request).readable(user)]

    @router.get("/me", summary="The caller's account", response_model=Me)
    def me(request: Request, user: User = reader) -> Me:
        """Who the token (or session) belongs to."""
        return Me(name=user.name, role=user.role, auth=_state(request).auth.enabled)

    @router.get("/conversations", summary="The caller's saved conversations")
    def list_conversations(request: Request, user: User = reader) -> list[dict[str, Any]]:
        """The caller's conversations, most recent first: id, title, created, updated (Unix seconds)."""
        state = _state(request)
        return [
            {"id": c.id, "title": c.title, "created": c.created, "updated": c.updated, "collection": c.collection}
            for c in state.conversations.list(_owner(user, state), state.readable(user))
        ]

    @router.get(
        "/conversations/{conversation_id}",
        summary="One saved conversation",
        responses={404: {"model": ErrorBody, "description": "No such conversation of yours."}},
    )
    def get_conversation(conversation_id: str, request: Request, user: User = reader) -> dict[str, Any]:
        """A conversation with every question and answer. Another user's conversation reads as 404."""
        state = _state(request)
        conversation = state.conversations.get(_owner(user, state), conversation_id, state.readable(user))
        if conversation is None:
            raise ApiError(404, f"no conversation {shown(conversation_id)!r} of yours")
        return conversation.to_dict()

    @router.get(
        "/conversations/{conversation_id}/export",
        summary="Download a conversation as Markdown or JSON",
        responses={404: {"model": ErrorBody, "description": "No such conversation of yours."}},
    )
    def export_conversation(
        conversation_id: str,
        request: Request,
        format: Annotated[Literal["markdown", "json"], Query()] = "markdown",
        user: User = reader,
    ) -> Response:
        """The conversation as a file: Markdown (questions, answers, cited passages) or JSON."""
        state = _state(request)
        conversation = state.conversations.get(_owner(user, state), conversation_id, state.readable(user))
        if conversation is None:
            raise ApiError(404, f"no conversation {shown(conversation_id)!r} of yours")
        name = f"conversation-{conversation.id[:8]}"
        if format == "json":
            return JSONResponse(
                conversation.to_dict(), headers={"Content-Disposition": f'attachment; filename="{name}.json"'}
            )
        return PlainTextResponse(
            to_markdown(conversation),
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.md"'},
        )

    @router.delete(
        "/conversations/{conversation_id}",
        summary="Delete a saved conversation",
        status_code=204,
        responses={404: {"model": ErrorBody, "description": "No such conversation of yours."}},
    )
    def delete_conversation(conversation_id: str, request: Request, user: User = reader) -> Response:
        """Delete one of the caller's conversations."""
        state = _state(request)
        if not state.conversations.delete(_owner(user, state), conversation_id):
            raise ApiError(404, f"no conversation {conversation_id!r} of yours")
        return Response(status_code=204)

    @router.get("/users", summary="Every account (admins only)")
    def list_users(request: Request, user: User = admin) -> list[dict[str, Any]]:
        """Accounts with their roles and whether they hold an API token; never a hash."""
        users = _state(request).auth.users
        if users is None:
            return []
        return [{"name": u.name, "role": u.role, "token": has_token} for u, has_token in users.users()]

    @router.post(
        "/users",
        summary="Add an account (admins only)",
        status_code=201,
        responses={409: {"model": ErrorBody, "description": "The name is taken."}},
    )
    def add_user(body: NewUser, request: Request, user: User = admin) -> dict[str, Any]:
        """Create an account with a password; the admin hands the password over themselves."""
        store = _users(request)
        if store.get(body.name) is not None:
            raise ApiError(409, f"user {body.name!r} already exists")
        try:
            added = store.add(body.name, body.role, body.password)
        except rag.ConfigError as exc:
            raise ApiError(400, str(exc)) from None
        _audit(request, user, "user_added", target=added.name, role=added.role)
        return {"name": added.name, "role": added.role, "token": False}

    @router.delete("/users/{name}", summary="Remove an account (admins only)", status_code=204)
    def remove_user(name: str, request: Request, user: User = admin) -> Response:
        """Delete an account, its token and its browser sessions."""
        store = _users(request)
        if store.get(name) is None:
            raise ApiError(404, f"no user called {name!r}")
        if name == user.name:
            raise ApiError(400, "you cannot remove your own account; ask another admin")
        store.remove(name)
        _state(request).auth.sessions.end_all(name)
        _audit(request, user, "user_removed", target=name)
        return Response(status_code=204)

    @router.post("/users/{name}/token", summary="Issue a new API token for an account (admins only)")
    def issue_token(
        name: str,
        request: Request,
        expires: Annotated[str | None, Query(description="How long it works: 90d, 12h, 30m, 45s.")] = None,
        user: User = admin,
    ) -> dict[str, str]:
        """A new token for ``name``, replacing any old one; shown only in this reply."""
        from server.users_cli import parse_duration

        store = _users(request)
        if store.get(name) is None:
            raise ApiError(404, f"no user called {name!r}")
        try:
            lifetime = parse_duration(expires) if expires is not None else None
        except rag.ConfigError as exc:
            raise ApiError(400, str(exc).replace("--expires", "expires")) from None
        token = store.issue_token(name, expires_s=lifetime)
        _audit(request, user, "api_token_issued", target=name, expires=expires)
        return {"name": name, "token": token}

    @router.delete("/users/{name}/token", summary="Revoke an account's API token (admins only)", status_code=204)
    def revoke_token(name: str, request: Request, user: User = admin) -> Response:
        """Revoke ``name``'s token at once."""
        store = _users(request)
        if store.get(name) is None:
            raise ApiError(404, f"no user called {name!r}")
        had = store.revoke_token(name)
        _audit(request, user, "api_token_revoked", target=name, had_one=had)
        return Response(status_code=204)

    return router


def _users(request: Request) -> UserStore:
    users = _state(request).auth.users
    if users is None:
        raise ApiError(409, "accounts are off on this server (no users file); add one with `rag users add`")
    return users


def _audit(request: Request, actor: User, event: str, **details: Any) -> None:
    _state(request).auth.audit.record(event, user=actor.name, source=client_address(request), **details)


def fallback_router() -> APIRouter:
    """A 404 for every other ``/api/...`` path, so none falls through to the chat app mounted at ``/``.

    Included after every other API router.
    """
    router = APIRouter(prefix="/api", include_in_schema=False)

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def not_found(rest: str) -> None:
        raise ApiError(404, f"no API route /api/{rest}")

    return router
