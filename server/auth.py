"""Who is asking: API tokens, browser sessions, roles, the login page, and the guard in front of Gradio.

Auth is on whenever the server has a users file. Then:

* ``/api/*`` routes take ``Authorization: Bearer TOKEN`` (or a signed-in browser's session cookie). No
  token or a bad one gets 401, a role too low gets 403, both with a JSON body ``{"error": ...}``.
* Everything else (the chat page and every Gradio route, ``/gradio_api/*`` included) needs a session: a
  browser asking for a page is sent to ``/login``; any other request gets 401. Gradio's own checks cover
  only some of its routes, so ``GradioGuard`` checks every request before Gradio sees it.
* Readers may not upload: the guard refuses ``/gradio_api/upload`` for them, and the chat's upload handler
  refuses again (the server never trusts the page to hide the button).
* Sign-in takes a bounded form (a name of at most 64 characters, a password of at most 1,024, 16 KiB in all)
  and is throttled per name and address (``server.limits.LoginThrottle``). The session cookie is ``Secure``
  over HTTPS, which includes a request from a trusted proxy that says so and every request with
  ``--https-proxy``.

With auth off every request is ``ANONYMOUS``, an admin, as the chat was before accounts existed.

``require_role("reader" | "editor" | "admin")`` is the FastAPI dependency routes use; it returns the ``User``.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.audit import AuditLog
from server.limits import LoginThrottle
from server.sessions import SESSION_COOKIE, ReceivedFiles, SessionStore, session_key
from server.users import ROLES, Role, User, UserStore

__all__ = ["ANONYMOUS", "ApiError", "Auth", "GradioGuard", "login_router", "require_role"]

logger = logging.getLogger("rag.server")

ANONYMOUS = User("anonymous", "admin")
# Paths served without a session even when auth is on: the login form, the APIs (the REST API, the
# OpenAI-compatible /v1 and MCP's /mcp check tokens themselves) and the documentation.
PUBLIC_PATHS = frozenset(
    {"/login", "/logout", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/healthz", "/mcp"}
)
PUBLIC_PREFIXES = ("/api/", "/v1/", "/static-offline-docs/")  # the APIs check tokens themselves; the docs' files
MAX_NAME_CHARS = 64  # as server.users allows
MAX_PASSWORD_CHARS = 1024
MAX_LOGIN_BYTES = 16 * 1024


class ApiError(Exception):
    """An error an API route answers with: an HTTP status and a message, sent as ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Auth:
    """Everything that decides who a request comes from. ``users`` is None when auth is off."""

    users: UserStore | None
    sessions: SessionStore
    audit: AuditLog
    throttle: LoginThrottle
    https_proxy: bool = False  # TLS ends at a proxy in front: cookies are Secure even over plain HTTP
    received: ReceivedFiles = field(default_factory=ReceivedFiles)  # which session uploaded which files

    @property
    def enabled(self) -> bool:
        """Whether requests must come from a signed-in user."""
        return self.users is not None

    def session_user(self, session_id: str | None) -> User | None:
        """The user of a live browser session whose account still exists, or None."""
        if self.users is None:
            return ANONYMOUS
        name = self.sessions.user(session_id)
        return self.users.get(name) if name else None

    def browser_user(self, request: Request) -> User | None:
        """The user of the request's session cookie (``ANONYMOUS`` when auth is off)."""
        return self.session_user(request.cookies.get(SESSION_COOKIE))

    def request_user(self, request: Request) -> User:
        """The user a request to ``/api/*`` comes from; raises ``ApiError`` 401 when there is none.

        A request with an ``Authorization`` header is judged by it alone, so a bad token is refused even
        beside a valid cookie.
        """
        if self.users is None:
            return ANONYMOUS
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _unauthorized("the Authorization header must be `Bearer TOKEN`")
            user = self.users.user_for_token(token.strip())
            if user is None:
                expired = self.users.token_expired(token.strip())
                if expired is not None:
                    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expired))
                    raise _unauthorized(f"the API token expired at {when}; get a new one with `rag users token`")
                raise _unauthorized("the API token is not valid (unknown or revoked); get one with `rag users token`")
            return user
        user = self.browser_user(request)
        if user is None:
            raise _unauthorized("sign in first: send `Authorization: Bearer TOKEN` (from `rag users token NAME`)")
        return user


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, {"WWW-Authenticate": 'Bearer realm="rag"'})


def auth_of(request: Request) -> Auth:
    """The app's ``Auth``, kept on ``app.state`` by ``server.app.create_app``."""
    auth: Auth = request.app.state.auth
    return auth


def require_role(role: Role) -> Callable[[Request], User]:
    """A FastAPI dependency that returns the request's ``User`` if their role allows ``role``.

    Raises ``ApiError`` 401 (no or bad credentials) or 403 (role too low). Example::

        @router.delete("/api/documents/{name}")
        def remove(name: str, user: User = Depends(require_role("editor"))) -> ...
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")

    def dependency(request: Request) -> User:
        user = auth_of(request).request_user(request)
        if not user.can(role):
            raise ApiError(403, f"this needs the {role} role; {user.name} is a {user.role}")
        request.state.user = user
        return user

    dependency.__name__ = f"require_{role}"
    return dependency


def client_address(request: Request) -> str:
    """The client's address: the peer's, or what a ``--trusted-proxy`` passed on (``server.web_security``)."""
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str:
    """Only same-site paths: ``/x`` yes, ``//evil.example`` or ``https://...`` no."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · rag</title>
<style>
  body {{ font-family: system-ui, sans-serif; background: #f4f4f7; color: #1f2937; display: flex;
         min-height: 100vh; align-items: center; justify-content: center; margin: 0; }}
  @media (prefers-color-scheme: dark) {{ body {{ background: #111827; color: #e5e7eb; }}
         form {{ background: #1f2937 !important; }} input {{ background: #111827; color: #e5e7eb; }} }}
  form {{ background: #fff; padding: 28px 32px; border-radius: 10px; box-shadow: 0 2px 12px rgba(0,0,0,.12);
          width: min(340px, 90vw); }}
  h1 {{ font-size: 1.25rem; margin: 0 0 4px; }} p.sub {{ margin: 0 0 18px; opacity: .75; font-size: .9rem; }}
  label {{ display: block; font-size: .85rem; margin: 12px 0 4px; }}
  input {{ width: 100%; box-sizing: border-box; padding: 8px 10px; border: 1px solid #9ca3af; border-radius: 6px;
           font-size: 1rem; }}
  button {{ margin-top: 18px; width: 100%; padding: 9px; border: 0; border-radius: 6px; background: #4f46e5;
            color: #fff; font-size: 1rem; cursor: pointer; }}
  .error {{ color: #b91c1c; background: #fee2e2; padding: 8px 10px; border-radius: 6px; font-size: .9rem; }}
  .info {{ color: #065f46; background: #d1fae5; padding: 8px 10px; border-radius: 6px; font-size: .9rem; }}
</style></head>
<body><form method="post" action="/login" id="login-form">
  <h1>Ask the documents</h1><p class="sub">Sign in to the chat.</p>
  {message}
  <input type="hidden" name="next" value="{next}">
  <label for="username">User name</label>
  <input id="username" name="username" autocomplete="username" required autofocus value="{username}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit" id="sign-in">Sign in</button>
</form></body></html>
"""


def login_page(message: str = "", kind: str = "error", next_path: str = "/", username: str = "") -> str:
    """The sign-in form, with an optional message (escaped)."""
    box = f'<p class="{kind}" id="login-message" role="alert">{html.escape(message)}</p>' if message else ""
    return LOGIN_PAGE.format(
        message=box, next=html.escape(_safe_next(next_path)), username=html.escape(username, quote=True)
    )


def login_router() -> APIRouter:
    """``GET/POST /login`` and ``POST /logout`` (sign-out), for browsers."""
    router = APIRouter(include_in_schema=False)

    @router.get("/login")
    def show_login(request: Request, next: str = "/") -> Response:  # the query parameter's name
        auth = auth_of(request)
        if not auth.enabled or auth.browser_user(request) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        signed_out = request.query_params.get("signed_out") == "1"
        return HTMLResponse(login_page("You are signed out." if signed_out else "", "info", next))

    @router.post("/login")
    async def do_login(request: Request) -> Response:
        auth = auth_of(request)
        form = await _login_form(request)
        if isinstance(form, Response):
            return form
        name = form.get("username", "").strip()
        password = form.get("password", "")
        next_path = _safe_next(form.get("next", "/"))
        address = client_address(request)
        if auth.users is None:
            return RedirectResponse(next_path, status_code=303)
        if len(name) > MAX_NAME_CHARS or len(password) > MAX_PASSWORD_CHARS or not name.isprintable():
            message = f"A user name has at most {MAX_NAME_CHARS} characters and a password {MAX_PASSWORD_CHARS}."
            return HTMLResponse(login_page(message, "error", next_path), status_code=400)
        wait = auth.throttle.reserve(name, address)  # counted before the password check: see LoginThrottle
        if wait:
            if auth.throttle.report_block(name, address):  # once per block: a bot's every try would flood the log
                auth.audit.record("login_throttled", user=name, source=address, retry_after_s=wait)
            page = login_page(f"Too many failed sign-ins. Try again in {wait} s.", "error", next_path, name)
            return HTMLResponse(page, status_code=429, headers={"Retry-After": str(wait)})
        # scrypt takes tens of milliseconds: keep it off the event loop
        from starlette.concurrency import run_in_threadpool

        user = await run_in_threadpool(auth.users.authenticate, name, password)
        if user is None:
            auth.audit.record("login_failed", user=name, source=address)
            page = login_page("Wrong user name or password.", "error", next_path, name)
            return HTMLResponse(page, status_code=401)
        auth.throttle.succeeded(name, address)
        session_id = auth.sessions.create(user.name)
        auth.audit.record("login", user=user.name, source=address, role=user.role)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(auth.sessions.ttl_s),
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https" or auth.https_proxy,
            path="/",
        )
        return response

    @router.get("/logout")
    def confirm_logout() -> HTMLResponse:
        # Signing out changes state, so it is a POST; a GET (a typed URL, a link) asks first.
        page = LOGIN_PAGE.split("<body>")[0] + (
            '<body><form method="post" action="/logout" id="logout-form"><h1>Sign out?</h1>'
            '<p class="sub">This ends your session in this browser.</p>'
            '<button type="submit" id="confirm-sign-out">Sign out</button></form></body></html>'
        )
        return HTMLResponse(page.replace("{{", "{").replace("}}", "}"))

    @router.post("/logout")
    def do_logout(request: Request) -> Response:
        auth = auth_of(request)
        session_id = request.cookies.get(SESSION_COOKIE)
        user = auth.browser_user(request) if auth.enabled else None
        auth.sessions.end(session_id)
        if user is not None:
            auth.audit.record("logout", user=user.name, source=client_address(request))
        response = RedirectResponse("/login?signed_out=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router


async def _login_form(request: Request) -> dict[str, str] | Response:
    """The sign-in form's fields, read with a size cap (an unbounded body is memory for the taking)."""
    if "multipart/" in request.headers.get("content-type", ""):
        return HTMLResponse(login_page("Send the sign-in form as a plain form."), status_code=415)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BYTES:
            return HTMLResponse(login_page("The sign-in form is too large."), status_code=413)
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


class GradioGuard:
    """ASGI middleware: with auth on, no request reaches Gradio (or any non-public route) without a session.

    Page loads are redirected to ``/login?next=...``; other requests get 401 JSON. Uploads through
    ``/gradio_api/upload`` also need the editor role. Checked on every request, before Gradio runs. With auth
    on or off, the paths Gradio answers an upload with are noted under the sender's session
    (``Auth.received``), for the upload event to accept those and no others.
    """

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through, redirect it to the login page, or refuse it."""
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "/")
        if path.rstrip("/").endswith("/gradio_api/upload"):
            send = self._remembering_uploads(scope, send)
        if not self.auth.enabled:
            await self.app(scope, receive, send)
            return
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        from starlette.concurrency import run_in_threadpool

        user = await run_in_threadpool(self.auth.browser_user, request)
        response: Response | None = None
        if user is None:
            wants_page = (
                scope["type"] == "http" and request.method == "GET" and "text/html" in request.headers.get("accept", "")
            )
            if wants_page:
                target = path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            else:
                response = JSONResponse({"error": "sign in first"}, status_code=401)
        elif path.rstrip("/").endswith("/gradio_api/upload") and not user.can("editor"):
            self.auth.audit.record("upload_refused", user=user.name, source=client_address(request), role=user.role)
            response = JSONResponse({"error": f"this needs the editor role; {user.name} is a {user.role}"}, 403)
        if response is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    def _remembering_uploads(self, scope: Scope, send: Send) -> Send:
        """``send``, noting the paths Gradio's upload answers with under the sender's session."""
        key = session_key(Request(scope).cookies.get(SESSION_COOKIE)) if self.auth.enabled else ""
        status = 0
        body = b""

        async def remember(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200 and len(body) < 1 << 20:
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    with contextlib.suppress(ValueError):
                        paths = json.loads(body)
                        if isinstance(paths, list):
                            self.auth.received.add(key, [p for p in paths if isinstance(p, str)])
            await send(message)

        return remember


def gradio_user(auth: Auth) -> Callable[[Request], Awaitable[str | None]] | None:
    """Gradio's ``auth_dependency``: the signed-in user's name, so handlers see it as ``request.username``."""
    if not auth.enabled:
        return None

    async def user_name(request: Request) -> str | None:
        user: Any = request.scope.get("state", {}).get("user")
        if isinstance(user, User):
            return user.name
        from starlette.concurrency import run_in_threadpool

        found = await run_in_threadpool(auth.browser_user, request)
        return found.name if found else None

    return user_name
