"""The web server: one FastAPI app with the REST API, sign-in, and the Gradio chat mounted at ``/``.

Beside ``/api`` it serves the OpenAI-compatible ``/v1`` (``server.openai_api``) and the MCP tools at ``/mcp``
(``server.mcp_http``), behind the same tokens, roles and question rate limit.

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

Stopping (SIGTERM, Ctrl-C): the docs watcher and every extraction worker are stopped the moment the signal
arrives (an upload or a refresh reading a file then ends at once), and requests still running after
``SHUTDOWN_GRACE_S`` are cancelled, so the server is gone within seconds whatever it was doing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

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
from rag.indexing.watch import DocsWatcher
from rag.ingest.documents import MAX_DOCUMENT_BYTES
from rag.ingest.readers import isolation
from server.api import ServerState, api_router, fallback_router
from server.audit import AuditLog
from server.auth import ApiError, Auth, GradioGuard, client_address, gradio_user, login_router, require_role
from server.chat_access import ServerChatAccess
from server.conversations import ConversationStore
from server.db import Database, StateUnavailable
from server.documents_routes import documents_router
from server.limits import LoginThrottle, SlidingWindow
from server.openai_api import invalid_request, openai_error_response, openai_router
from server.options import ServeOptions
from server.paths import data_paths
from server.sessions import SessionStore
from server.startup import check_serving
from server.users import User, UserStore
from server.web_security import WebGuard
from ui.app import _warm_up, build_app
from ui.auth_views import ACCOUNT_CSS
from ui.page_assets import CSS, HEAD

if TYPE_CHECKING:
    from server.mcp_http import McpDoor

__all__ = ["create_app", "serve"]

logger = logging.getLogger("rag.server")

# Requests still running this long after a stop signal are cancelled (uvicorn waits for ever by default: an
# upload being read held a stopping server for 4.5 minutes).
SHUTDOWN_GRACE_S = 3


def create_app(
    bot: Bot, *, users_file: Path | None = None, options: ServeOptions | None = None, host: str = "127.0.0.1"
) -> FastAPI:
    """The FastAPI app over ``bot``: API, sign-in and the chat. ``users_file`` turns auth on.

    ``host`` is the address served on; ``/mcp`` also guards against DNS rebinding when it is loopback and
    auth is off.

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
    mcp = _mcp_door(state, host)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.lifespan if mcp is not None else nullcontext():
            yield

    # FastAPIOffline serves /docs (Swagger UI) and /redoc (ReDoc) from the package's own copies of their
    # scripts and styles: no CDN and no web fonts, so both pages work offline and under the same
    # Content-Security-Policy as everything else.
    app = FastAPIOffline(
        lifespan=lifespan,
        title="rag",
        version=rag.__version__,
        description=(
            "Answers questions about your documents with cited passages. With accounts on, every `/api` route "
            'takes `Authorization: Bearer TOKEN` (from `rag users token NAME`); errors are `{"error": ...}`. '
            "The same tokens open the OpenAI-compatible `/v1` (errors in OpenAI's shape) and the MCP tools at `/mcp`."
        ),
    )
    app.state.auth = auth
    app.state.rag = state
    _add_error_handlers(app)
    app.include_router(login_router())
    app.include_router(api_router())
    _include_documents_router(app, state)
    app.include_router(fallback_router())
    app.include_router(openai_router())
    if mcp is not None:
        app.router.routes.append(mcp.route)  # before the chat's mount at "/", which would take the path

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True, "auth": auth.enabled}

    demo = build_app(bot, ServerChatAccess(state), answerers=options.chat_answerers)
    wal, shm = (db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm"))
    private = [users_file, db_path, wal, shm, audit_path, bot.settings.index_dir, bot.settings.docs_dir]
    private += [bot.settings.collections_file]
    private += [c.docs for c in state.library.registry.collections() if c.docs is not None]  # as at start
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


def _include_documents_router(app: FastAPI, state: ServerState) -> None:
    """Mount the documents REST routes (``server.documents_routes``): reading for readers, removal for editors.

    Each route reaches its collection through the one access check, ``ServerState.open_collection``.
    """

    def opener(request: Request, user: User, collection: str) -> Bot:
        return state.open_collection(user, collection, client_address(request))

    app.include_router(documents_router(opener, reader=require_role("reader"), editor=require_role("editor")))


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

    @app.exception_handler(StateUnavailable)
    async def unavailable(request: Request, exc: StateUnavailable) -> JSONResponse:
        logger.error("%s", exc)
        retry = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else {}
        return JSONResponse({"error": str(exc)}, status_code=503, headers=retry)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if _openai_path(request):
            return openai_error_response(ApiError(exc.status_code, message, dict(exc.headers or {})))
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
        app = create_app(bot, users_file=settings.users_file if auth_on else None, options=options, host=host)
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
            _run(
                app,
                watcher,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                proxy_headers=False,
                server_header=False,
            )
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
