"""The web server: one FastAPI app with the REST API, sign-in, and the Gradio chat mounted at ``/``.

``create_app(bot, users_file=...)`` builds it; ``serve(settings, host, port)`` loads a bot and runs it
under uvicorn. Auth is on when a users file is given (``rag serve`` passes one whenever it exists): the
chat then needs a sign-in, the API a Bearer token, and ``GradioGuard`` stands in front of every Gradio
route. Without one the chat runs open, as before, with one shared conversation history.

Server state lives beside the users file when auth is on (``<users>.conversations.sqlite3``,
``<users>.audit.jsonl``) and in the index folder when it is off.

Stopping (SIGTERM, Ctrl-C): the docs watcher and every extraction worker are stopped the moment the signal
arrives (an upload or a refresh reading a file then ends at once), and requests still running after
``SHUTDOWN_GRACE_S`` are cancelled, so the server is gone within seconds whatever it was doing.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import rag
from rag import Bot, Settings
from rag.documents import MAX_DOCUMENT_BYTES
from rag.readers import isolation
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
from server.paths import data_paths
from server.sessions import SessionStore
from server.users import UserStore
from ui.app import CSS, HEAD, _warm_up, build_app
from ui.auth_views import ACCOUNT_CSS

__all__ = ["create_app", "serve"]

logger = logging.getLogger("rag.server")

# Requests still running this long after a stop signal are cancelled (uvicorn waits for ever by default: an
# upload being read held a stopping server for 4.5 minutes).
SHUTDOWN_GRACE_S = 3


def create_app(bot: Bot, *, users_file: Path | None = None) -> FastAPI:
    """The FastAPI app over ``bot``: API, sign-in and the chat. ``users_file`` turns auth on."""
    db_path, audit_path = data_paths(users_file, bot.settings.index_dir)
    db = Database(db_path)
    auth = Auth(
        users=UserStore(users_file) if users_file is not None else None,
        sessions=SessionStore(db),
        audit=AuditLog(audit_path),
        throttle=LoginThrottle(),
    )
    state = ServerState(bot, auth, ConversationStore(db), SlidingWindow(bot.settings.chat_rate_limit, 60.0))
    app = FastAPI(
        title="rag",
        version=rag.__version__,
        description=(
            "Answers questions about your documents with cited passages. With accounts on, every `/api` route "
            'takes `Authorization: Bearer TOKEN` (from `rag users token NAME`); errors are `{"error": ...}`.'
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


def _add_error_handlers(app: FastAPI) -> None:
    """Every API error is JSON ``{"error": message}``, with the status's headers (WWW-Authenticate...)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
            for e in exc.errors()
        )
        return JSONResponse({"error": f"bad request: {problems}"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
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
    app = create_app(bot, users_file=settings.users_file if auth_on else None)
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
        _run(app, watcher, host=host, port=port, log_level="warning", access_log=False)
    finally:
        _stop_background(watcher)


def _run(app: FastAPI, watcher: DocsWatcher | None, **config: Any) -> None:
    """``uvicorn.run(app, **config)`` that stops the background work at once when told to stop.

    The watcher and the extraction workers are stopped the moment a stop signal arrives, and requests still
    running ``SHUTDOWN_GRACE_S`` later are cancelled.
    """
    server = _Server(uvicorn.Config(app, timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **config), watcher)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl-C is a stop, not an error
        server.run()
    if not server.started:  # as uvicorn.run: the port was taken, say
        sys.exit(3)


class _Server(uvicorn.Server):
    """uvicorn's server, which also starts stopping the background work as soon as it is told to stop."""

    def __init__(self, config: uvicorn.Config, watcher: DocsWatcher | None) -> None:
        super().__init__(config)
        self._watcher = watcher

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # A signal handler must not wait for locks: the stopping happens in a thread of its own.
        threading.Thread(target=_stop_background, args=(self._watcher,), name="rag-stop", daemon=True).start()


def _stop_background(watcher: DocsWatcher | None) -> None:
    """Stop the watcher (no refresh after this) and kill every extraction worker (a file being read is dropped)."""
    if watcher is not None:
        watcher.stop(timeout=0)
    isolation.shutdown()
