"""The web server: one FastAPI app with the REST API, sign-in, and the Gradio chat mounted at ``/``.

Beside ``/api`` it serves the OpenAI-compatible ``/v1`` (``server.openai_api``) and the MCP tools at ``/mcp``
(``server.mcp_http``), behind the same tokens, roles and question rate limit.

``create_app(bot, users_file=...)`` builds it; ``serve(settings, host, port)`` loads a bot and runs it
under uvicorn. Auth is on when a users file is given (``rag serve`` passes one whenever it exists): the
chat then needs a sign-in, the API a Bearer token, and ``GradioGuard`` stands in front of every Gradio
route. Without one the chat runs open, as before, with one shared conversation history.

Server state lives beside the users file when auth is on (``<users>.conversations.sqlite3``,
``<users>.audit.jsonl``) and in the index folder when it is off.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import rag
from rag import Bot, Settings
from rag.documents import MAX_DOCUMENT_BYTES
from rag.watch import DocsWatcher
from server.api import ServerState, api_router, fallback_router
from server.audit import AuditLog
from server.auth import ApiError, Auth, GradioGuard, gradio_user, login_router, require_role
from server.chat_access import ServerChatAccess
from server.conversations import ConversationStore
from server.db import Database
from server.documents_routes import documents_router
from server.exposure import check_exposure
from server.limits import LoginThrottle, SlidingWindow
from server.openai_api import invalid_request, openai_error_response, openai_router
from server.paths import data_paths
from server.sessions import SessionStore
from server.users import UserStore
from ui.app import CSS, HEAD, _warm_up, build_app
from ui.auth_views import ACCOUNT_CSS

if TYPE_CHECKING:
    from server.mcp_http import McpDoor

__all__ = ["create_app", "serve"]

logger = logging.getLogger("rag.server")


def create_app(bot: Bot, *, users_file: Path | None = None, host: str = "127.0.0.1") -> FastAPI:
    """The FastAPI app over ``bot``: API, sign-in and the chat. ``users_file`` turns auth on.

    ``host`` is the address served on; ``/mcp`` guards against DNS rebinding when it is loopback and auth is off.
    """
    db_path, audit_path = data_paths(users_file, bot.settings.index_dir)
    db = Database(db_path)
    auth = Auth(
        users=UserStore(users_file) if users_file is not None else None,
        sessions=SessionStore(db),
        audit=AuditLog(audit_path),
        throttle=LoginThrottle(),
    )
    state = ServerState(bot, auth, ConversationStore(db), SlidingWindow(bot.settings.chat_rate_limit, 60.0))
    mcp = _mcp_door(state, host)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.lifespan if mcp is not None else nullcontext():
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="rag",
        version=rag.__version__,
        description=(
            "Answers questions about your documents with cited passages. With accounts on, every `/api` route "
            'takes `Authorization: Bearer TOKEN` (from `rag users token NAME`); errors are `{"error": ...}`. '
            "The same tokens open the OpenAI-compatible `/v1` (errors in OpenAI's shape) and the MCP tools at `/mcp`."
        ),
        redoc_url=None,
    )
    app.state.auth = auth
    app.state.rag = state
    _add_error_handlers(app)
    app.include_router(login_router())
    app.include_router(api_router())
    _include_documents_router(app, bot)
    app.include_router(fallback_router())
    app.include_router(openai_router())
    if mcp is not None:
        app.router.routes.append(mcp.route)  # before the chat's mount at "/", which would take the path

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True, "auth": auth.enabled}

    demo = build_app(bot, ServerChatAccess(state))
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        auth_dependency=gradio_user(auth),
        ssr_mode=False,
        footer_links=[],
        theme=gr.themes.Soft(),
        css=CSS + ACCOUNT_CSS,
        head=HEAD,
        max_file_size=MAX_DOCUMENT_BYTES,
    )
    app.add_middleware(GradioGuard, auth=auth)
    return app


def _include_documents_router(app: FastAPI, bot: Bot) -> None:
    """Mount the documents REST routes (``server.documents_routes``): listing for readers, removal for editors."""
    app.include_router(documents_router(bot, reader=require_role("reader"), editor=require_role("editor")))


def _mcp_door(state: ServerState, host: str) -> McpDoor | None:
    """The ``/mcp`` endpoint, or None (logged once) when the MCP SDK is not installed."""
    try:
        from server.mcp_http import mcp_door
    except ImportError as exc:
        logger.warning("no MCP tools at /mcp: the MCP SDK is missing (%s); pip install 'rag[mcp]'", exc)
        return None
    return mcp_door(state, host=host)


def _openai_path(request: Request) -> bool:
    """Errors under ``/v1`` are in OpenAI's shape, so OpenAI clients raise their own exceptions."""
    return request.url.path == "/v1" or request.url.path.startswith("/v1/")


def _add_error_handlers(app: FastAPI) -> None:
    """Every API error is JSON ``{"error": message}``, with the status's headers (WWW-Authenticate...).

    Under ``/v1`` the same errors take OpenAI's shape (``server.openai_api.openai_error_response``), and a
    malformed request is a 400 naming the field, as OpenAI answers it.
    """

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        if _openai_path(request):
            return openai_error_response(exc)
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _openai_path(request):
            return openai_error_response(invalid_request(exc))
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
            for e in exc.errors()
        )
        return JSONResponse({"error": f"bad request: {problems}"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if _openai_path(request):
            return openai_error_response(ApiError(exc.status_code, message, dict(exc.headers or {})))
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


def serve(
    settings: Settings | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    no_auth: bool = False,
) -> None:
    """Load a bot and serve the chat and API until interrupted (auth on whenever the users file exists).

    Raises:
        ConfigError: A non-loopback ``host`` with no users file and no ``no_auth`` (checked before loading).
    """
    settings = settings or Settings.from_env()
    auth_on = check_exposure(host, settings.users_file, no_auth=no_auth)
    bot = rag.load(settings=settings)
    app = create_app(bot, users_file=settings.users_file if auth_on else None, host=host)
    _warm_up(bot)
    where = f"http://{host}:{port}"
    if auth_on and not UserStore(settings.users_file).users():
        logger.warning("%s has no accounts: nobody can sign in; add one with `rag users add`", settings.users_file)
    if auth_on:
        logger.info("chat ready on %s, sign-in required (accounts in %s)", where, settings.users_file)
    else:
        logger.info("chat ready on %s, open to anyone who can reach it (no accounts)", where)
    # Files added, changed or removed in the docs folder are indexed while the server runs (--no-watch: not).
    watcher = DocsWatcher(bot).start() if bot.settings.watch_docs else None
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if watcher is not None:
            watcher.stop()
