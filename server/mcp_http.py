"""``/mcp``: the MCP tools of ``server.mcp_tools`` over streamable HTTP, behind the API's tokens and roles.

Every request to ``/mcp`` passes the API's one access check first (``server.auth.require_role``): with
accounts on, no ``Authorization: Bearer TOKEN`` (or a bad one) gets 401 (with ``WWW-Authenticate``) before
the MCP SDK sees the request; its body is a JSON-RPC error, which MCP clients surface with its message.
Each tool call is then checked against ``TOOL_ROLES`` by the same function, and ``ask`` counts against the
user's question rate limit as ``/api/ask`` does; a refusal is the tool's error result.

The SDK runs stateless (no session kept between requests), so ``rag serve --workers`` can send each request
to any process. Its DNS-rebinding protection (allowed ``Host`` and ``Origin``) is on when the server has no
accounts and listens on loopback: then a web page the user visits is the only stranger that can reach it.
With accounts on, the bearer token is the protection, and the server may sit behind any host name.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import rag
from server.api import ServerState
from server.auth import ApiError, client_address, require_role
from server.mcp_tools import TOOL_NAMES, Guard, Opener, build_mcp_server
from server.users import Role, User

__all__ = ["MCP_PATH", "TOOL_ROLES", "McpDoor", "mcp_door"]

MCP_PATH = "/mcp"
# The role each tool needs, as the matching /api route would. A tool missing here is refused to everyone.
TOOL_ROLES: dict[str, Role] = {
    "search": "reader",
    "ask": "reader",
    "list_documents": "reader",
    "read_document": "reader",
}
_QUESTION_TOOLS = frozenset({"ask"})
_MINIMUM_ROLE: Role = "reader"
# JSON-RPC has no codes for these; MCP leaves the -32000 range to servers.
_JSONRPC_CODES = {401: -32001, 403: -32003}


def _refusal(exc: ApiError) -> JSONResponse:
    """A refused request as a JSON-RPC error (with the HTTP status): MCP clients show its message."""
    error = {"code": _JSONRPC_CODES.get(exc.status, -32600), "message": f"{exc.status}: {exc.message}"}
    body = {"jsonrpc": "2.0", "id": None, "error": {**error, "data": {"status": exc.status}}}
    return JSONResponse(body, exc.status, exc.headers)


class _Checked:
    """ASGI: the API's access check in front of the SDK's endpoint; a refusal is a JSON-RPC error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.check = require_role(_MINIMUM_ROLE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                # Sets request.state.user, which the tool calls read back (the SDK builds its Request on this scope).
                await run_in_threadpool(self.check, Request(scope))
            except ApiError as exc:
                await _refusal(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _guard(state: ServerState) -> Guard:
    checks = {role: require_role(role) for role in set(TOOL_ROLES.values())}

    def guard(request: Any, tool: str) -> None:
        role = TOOL_ROLES.get(tool)
        if role is None:
            raise ToolError(f"the tool {tool!r} has no access rule on this server")
        try:
            user = checks[role](request)
            if tool in _QUESTION_TOOLS:
                state.limit_question(user)
        except ApiError as exc:
            raise ToolError(exc.message) from None

    return guard


def _opener(state: ServerState) -> Opener:
    """The one collection check, for the user the guard let in; a refusal is the tool's error (a 404's words)."""

    def opener(request: Any, collection: str) -> rag.Bot:
        user = getattr(request.state, "user", None)
        if not isinstance(user, User):
            raise ToolError("sign in first")
        try:
            return state.open_collection(user, collection, client_address(request))
        except ApiError as exc:
            raise ToolError(exc.message) from None

    return opener


class McpDoor:
    """The ``/mcp`` route and the lifespan its SDK session manager needs (enter it in the app's lifespan)."""

    def __init__(self, route: Route, lifespan: AbstractAsyncContextManager[None]) -> None:
        self.route = route
        self.lifespan = lifespan


def mcp_door(state: ServerState, *, host: str = "127.0.0.1") -> McpDoor:
    """Build the MCP server over ``state.bot`` and its checked ``/mcp`` endpoint."""
    if set(TOOL_NAMES) != set(TOOL_ROLES):
        raise RuntimeError(f"MCP tools without a role in TOOL_ROLES: {sorted(set(TOOL_NAMES) - set(TOOL_ROLES))}")
    server = build_mcp_server(state.bot, guard=_guard(state), opener=_opener(state))
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False) if state.auth.enabled else None
    # Builds the session manager (the Starlette app it returns is not used: the route below replaces it).
    server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, host=host, transport_security=security
    )
    manager = server.session_manager
    endpoint = _Checked(StreamableHTTPASGIApp(manager))
    route = Route(MCP_PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    return McpDoor(route, manager.run())
