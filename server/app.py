"""The web server: one FastAPI app with the REST API, sign-in, and the Gradio chat mounted at ``/``.

``create_app(bot, users_file=...)`` builds it; ``serve(settings, host, port)`` loads a bot and runs it
under uvicorn. Auth is on when a users file is given (``rag serve`` passes one whenever it exists): the
chat then needs a sign-in, the API a Bearer token, and ``GradioGuard`` stands in front of every Gradio
route. Without one the chat runs open, as before, with one shared conversation history.

Server state lives beside the users file when auth is on (``<users>.conversations.sqlite3``,
``<users>.audit.jsonl``) and in the index folder when it is off.

Facing the network (``server.web_security``, options in ``server.options``): ``WebGuard`` checks Host and
Origin and sets the security headers on every answer; no origin gets CORS; forwarded addresses count only
from ``--trusted-proxy``. Gradio is mounted with its own file checks on (see ``_mount_chat``) and with the
server's private files blocked, and keeps uploads in a folder of this server's own, deleted when it stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

import rag
from rag import Bot, Settings
from rag.documents import MAX_DOCUMENT_BYTES
from rag.watch import DocsWatcher
from server.api import ServerState, api_router, fallback_router
from server.audit import AuditLog
from server.auth import ApiError, Auth, GradioGuard, gradio_user, login_router, require_role
from server.chat_access import ServerChatAccess
from server.conversations import ConversationStore
from server.db import Database, StateUnavailable
from server.documents_routes import documents_router
from server.limits import LoginThrottle, SlidingWindow
from server.options import ServeOptions
from server.paths import data_paths
from server.sessions import SessionStore
from server.startup import check_serving
from server.users import UserStore
from server.web_security import WebGuard
from ui.app import CSS, HEAD, _warm_up, build_app
from ui.auth_views import ACCOUNT_CSS

__all__ = ["create_app", "serve"]

logger = logging.getLogger("rag.server")


def create_app(bot: Bot, *, users_file: Path | None = None, options: ServeOptions | None = None) -> FastAPI:
    """The FastAPI app over ``bot``: API, sign-in and the chat. ``users_file`` turns auth on.

    Raises:
        StateUnavailable: The server's database is damaged or unreadable.
    """
    options = options or ServeOptions()
    db_path, audit_path = data_paths(users_file, bot.settings.index_dir)
    db = Database(db_path)
    auth = Auth(
        users=UserStore(users_file) if users_file is not None else None,
        sessions=SessionStore(db),
        audit=AuditLog(audit_path),
        throttle=LoginThrottle(),
        https_proxy=options.https_proxy,
    )
    state = ServerState(bot, auth, ConversationStore(db), SlidingWindow(bot.settings.chat_rate_limit, 60.0))
    # FastAPIOffline serves /docs from the package's own copy of Swagger UI: no CDN, so the page works
    # offline and under the same Content-Security-Policy as everything else.
    app = FastAPIOffline(
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

    demo = build_app(bot, ServerChatAccess(state), answerers=options.chat_answerers)
    wal, shm = (db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm"))
    private = [users_file, db_path, wal, shm, audit_path, bot.settings.index_dir, bot.settings.docs_dir]
    _mount_chat(app, demo, auth, [p for p in private if p is not None])
    # Added last, run first: WebGuard, then the CORS policy (no origin but the page's own may read an
    # answer), then GradioGuard's sign-in check.
    app.add_middleware(GradioGuard, auth=auth)
    app.add_middleware(CORSMiddleware, allow_origins=[], allow_credentials=False)
    app.add_middleware(WebGuard, options=options)
    return app


def _mount_chat(app: FastAPI, demo: gr.Blocks, auth: Auth, private: list[Path]) -> None:
    """Mount the chat at ``/`` with Gradio's own file checks on and the server's files out of its reach."""
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
        blocked_paths=[str(p.resolve()) for p in private],
    )
    # Gradio checks that a file named in an event's input was uploaded to it (and no other path) only once
    # its Blocks "has launched" (gradio.processing_utils._check_allowed), and mount_gradio_app never sets
    # that: mounted, any chatbot or file input could name /etc/passwd or the users file and Gradio copied it
    # into its cache and served it back. The chat is served from here on, so it has launched.
    demo.has_launched = True


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

    @app.exception_handler(StateUnavailable)
    async def unavailable(request: Request, exc: StateUnavailable) -> JSONResponse:
        logger.error("%s", exc)
        retry = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else {}
        return JSONResponse({"error": str(exc)}, status_code=503, headers=retry)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


@contextlib.contextmanager
def _private_upload_folder() -> Iterator[Path]:
    """Gradio's upload folder for this server alone (unless ``GRADIO_TEMP_DIR`` names one), removed at the end.

    Gradio's default, ``/tmp/gradio``, is shared by every Gradio app on the machine and never emptied.
    """
    chosen = os.environ.get("GRADIO_TEMP_DIR")
    if chosen:
        yield Path(chosen)
        return
    folder = Path(tempfile.mkdtemp(prefix="rag-gradio-"))  # 0700
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        yield folder
    finally:
        os.environ.pop("GRADIO_TEMP_DIR", None)
        shutil.rmtree(folder, ignore_errors=True)


def serve(
    settings: Settings | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    no_auth: bool = False,
    options: ServeOptions | None = None,
) -> None:
    """Load a bot and serve the chat and API until interrupted (auth on whenever the users file exists).

    Raises:
        ConfigError: A non-loopback ``host`` with no users file and no ``no_auth``, or a damaged users file or
            database (checked before loading, by ``server.startup.check_serving``).
    """
    settings = settings or Settings.from_env()
    options = (options or ServeOptions.from_env()).answering_to(host)
    auth_on = check_serving(host, settings, no_auth=no_auth)
    with _private_upload_folder():
        bot = rag.load(settings=settings)
        app = create_app(bot, users_file=settings.users_file if auth_on else None, options=options)
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
            # Forwarded headers are WebGuard's to judge (from --trusted-proxy only); uvicorn would trust any
            # loopback peer's. No "server: uvicorn" header either.
            uvicorn.run(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                proxy_headers=False,
                server_header=False,
            )
        finally:
            if watcher is not None:
                watcher.stop()
