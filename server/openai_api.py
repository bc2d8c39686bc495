"""The OpenAI-compatible API under ``/v1``: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Any OpenAI client (the ``openai`` package, LangChain's ``ChatOpenAI``, Open WebUI, LibreChat, Continue) can
use the documents as a model. The last user message is the question; earlier user and assistant messages
are the history, so a follow-up is rewritten as in the chat; system messages are accepted and ignored. The
answer comes from ``Bot.ask``; ``rag.answer.wire.OpenAICompletion`` shapes it, with the citations in a top-level
``"citations"`` array and refusal, notice, verification and backend in a top-level ``"rag"`` object.

A stream (``"stream": true``) sends the assistant's role at once, then the answer once it is complete and
verified: a model's raw stream numbers passages its own way and verification may replace it, so what is
streamed is always the final text, whose ``[n]`` markers match the citations of the final chunk.

Access is the API's: the same bearer tokens and roles (``server.auth.require_role``) and the same question
rate limit, but every error under ``/v1`` is in OpenAI's shape (``openai_error_response``), so the client
raises its own exceptions (401: ``AuthenticationError``, 429: ``RateLimitError``). A request field that
would change what the caller gets and that this server cannot honour (``n`` > 1, tools, images, JSON
output, stop sequences, logprobs...) is refused with a 400 naming it; fields that only tune sampling
(``temperature``, ``top_p``, ``seed``...) or bound length (``max_tokens``: answers are short and never cut,
since a cut answer loses its citations) are accepted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

import rag
from rag.answer import wire
from rag.bot.questions import validate_question
from rag.bot.registry import DEFAULT, shown
from server.api import ServerState
from server.auth import ApiError, client_address, require_role
from server.users import User

__all__ = [
    "MODEL_ID",
    "ChatCompletionRequest",
    "OpenAIError",
    "invalid_request",
    "openai_error_response",
    "openai_router",
    "served_models",
]

logger = logging.getLogger("rag.server")

# The server's default answerer over its default documents; every other collection is a model named like it.
MODEL_ID = "rag"
_STARTED = int(time.time())


class OpenAIError(ApiError):
    """An error for a ``/v1`` route, with OpenAI's ``param`` (the field at fault) and ``code``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(status, message)
        self.param = param
        self.code = code


# Each status's OpenAI error type and default code, as OpenAI's own API answers them.
_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "insufficient_permissions"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    429: ("requests", "rate_limit_exceeded"),
}


def openai_error_response(exc: ApiError) -> JSONResponse:
    """Any API error (the shared access check's 401/403/429 included) as OpenAI's error body."""
    kind, code = _KINDS.get(exc.status, ("server_error" if exc.status >= 500 else "invalid_request_error", None))
    param = exc.param if isinstance(exc, OpenAIError) else None
    code = exc.code if isinstance(exc, OpenAIError) and exc.code else code
    body = wire.openai_error(exc.message, type=kind, code=code, param=param)
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def invalid_request(exc: RequestValidationError) -> OpenAIError:
    """A request that does not parse, as OpenAI answers it: 400, naming the first field at fault."""
    error = exc.errors()[0]
    loc = [str(part) for part in error.get("loc", ()) if part != "body"]
    param = ".".join(loc) or None
    if error.get("type") == "extra_forbidden":
        return OpenAIError(
            400, f"Unrecognized request argument supplied: {param}", param=param, code="unknown_parameter"
        )
    if error.get("type") == "json_invalid":
        return OpenAIError(400, "the request body is not valid JSON", code="invalid_json")
    return OpenAIError(400, f"{param or 'body'}: {error.get('msg')}", param=param, code="invalid_value")


@dataclass(frozen=True)
class ServedModel:
    """A model id a caller may name, and the collection that answers as it."""

    id: str
    collection: str


def model_collection(model_id: str) -> str:
    """The collection a model id names: ``rag`` is ``default``; any other id is its collection's name."""
    if model_id == DEFAULT:
        return ""  # default's one model id is `rag`: "default" names no model (and "" no collection)
    return DEFAULT if model_id == MODEL_ID else model_id


def served_models(state: ServerState, user: User) -> dict[str, ServedModel]:
    """The models ``user`` may use: one per collection they may read (``rag`` for ``default``), no other."""
    names = state.readable(user)
    return {(MODEL_ID if n == DEFAULT else n): ServedModel(MODEL_ID if n == DEFAULT else n, n) for n in names}


class ChatCompletionRequest(BaseModel):
    """The body of ``POST /v1/chat/completions``: OpenAI's fields; an unknown one is refused, as OpenAI does."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description=f"The model id: `{MODEL_ID}` (see GET /v1/models).", examples=[MODEL_ID])
    messages: list[dict[str, Any]] = Field(
        min_length=1, description="The conversation; the last message is the user's question."
    )
    stream: bool | None = Field(default=False, description="Send server-sent events (chat.completion.chunk).")
    stream_options: dict[str, Any] | None = None
    # Accepted: they tune sampling or bound length, and do not change what an answer means.
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    user: str | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None
    parallel_tool_calls: bool | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    # Accepted only with values that ask for nothing this server cannot do (see _check_supported).
    n: int | None = None
    stop: str | list[str] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: Any = None
    prediction: Any = None
    web_search_options: Any = None


def _unsupported(param: str, why: str) -> OpenAIError:
    return OpenAIError(400, f"{param}: {why}", param=param, code="unsupported_parameter")


def _check_supported(body: ChatCompletionRequest) -> None:
    """Refuse, naming the field, what would change the reply's meaning and cannot be honoured."""
    if body.n not in (None, 1):
        raise _unsupported("n", f"only one answer per request is supported (n=1), got n={body.n}")
    if body.tools:
        raise _unsupported("tools", "tool calling is not supported: this model answers from the documents only")
    if body.functions:
        raise _unsupported("functions", "function calling is not supported")
    if body.tool_choice not in (None, "none", "auto"):
        raise _unsupported("tool_choice", "tool calling is not supported")
    if body.function_call not in (None, "none", "auto"):
        raise _unsupported("function_call", "function calling is not supported")
    if body.response_format and body.response_format.get("type", "text") != "text":
        kind = body.response_format.get("type")
        raise _unsupported("response_format", f"only text answers are supported, not {kind!r}")
    if body.stop:
        raise _unsupported("stop", "stop sequences are not supported: a cut answer loses its citations")
    if body.logprobs or body.top_logprobs:
        raise _unsupported("logprobs" if body.logprobs else "top_logprobs", "log probabilities are not available")
    if body.logit_bias:
        raise _unsupported("logit_bias", "token biases are not supported")
    if body.modalities and set(body.modalities) != {"text"}:
        raise _unsupported("modalities", "only text output is supported")
    for name in ("audio", "prediction", "web_search_options"):
        if getattr(body, name) is not None:
            raise _unsupported(name, "not supported by this server")


def _text(content: Any, where: str) -> str:
    """A message's text: a string, or text parts; any other part (images, audio, files) is refused."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise OpenAIError(400, f"{where}: must be a string or a list of content parts", param=where)
    texts = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            raise _unsupported(f"{where}[{i}]", f"only text content is supported, not {kind or type(part).__name__!r}")
        texts.append(part["text"])
    return "\n".join(texts)


def _conversation(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """The question (the last message, the user's) and the history before it; system messages are dropped."""
    turns: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("tool", "function") or message.get("tool_calls") or message.get("function_call"):
            raise _unsupported(f"{where}.role", "tool and function messages are not supported")
        if role not in ("system", "developer", "user", "assistant"):
            raise OpenAIError(400, f"{where}.role: unknown role {role!r}", param=f"{where}.role")
        text = _text(message.get("content"), f"{where}.content")
        if role in ("user", "assistant"):
            turns.append({"role": role, "content": text})
    if messages[-1].get("role") != "user":
        raise OpenAIError(400, "messages: the last message must be the user's question", param="messages")
    return turns[-1]["content"], turns[:-1]


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _events(
    bot: rag.Bot, question: str, history: list[dict[str, str]], completion: wire.OpenAICompletion
) -> AsyncIterator[str]:
    yield _sse(completion.opening_chunk())
    try:
        answer = await run_in_threadpool(bot.ask, question, history=history)
    except rag.QuestionError as exc:  # the headers are sent: the client's stream raises it as an APIError
        yield _sse(wire.openai_error(str(exc), type="invalid_request_error", param="messages"))
        return
    except Exception:
        logger.exception("the answer to a streamed /v1 question failed")
        yield _sse(wire.openai_error("the server failed to answer; see its log", type="server_error"))
        return
    for chunk in completion.answer_chunks(answer):
        yield _sse(chunk)
    yield "data: [DONE]\n\n"


def openai_router() -> APIRouter:
    """The ``/v1`` routes, and a 404 in OpenAI's shape for any other ``/v1`` path."""
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
    reader = Depends(require_role("reader"))

    def state_of(request: Request) -> ServerState:
        state: ServerState = request.app.state.rag
        return state

    def model_card(model: ServedModel) -> dict[str, Any]:
        return {"id": model.id, "object": "model", "created": _STARTED, "owned_by": "rag"}

    def open_model(request: Request, user: User, name: str) -> rag.Bot:
        """The bot answering as model ``name``, through the one collection check; else 404 ``model_not_found``."""
        state = state_of(request)
        try:
            return state.open_collection(user, model_collection(name), client_address(request))
        except ApiError:
            served = ", ".join(served_models(state, user))
            raise OpenAIError(
                404,
                f"The model {shown(name)!r} does not exist; this server serves: {served}",
                param="model",
                code="model_not_found",
            ) from None

    @router.get("/models", summary="The models a caller may use")
    def list_models(request: Request, user: User = reader) -> dict[str, Any]:
        """OpenAI's model list: `rag` answers from the default collection, each other readable collection by name."""
        models = served_models(state_of(request), user).values()
        return {"object": "list", "data": [model_card(m) for m in models]}

    @router.get("/models/{model_id}", summary="One model")
    def get_model(model_id: str, request: Request, user: User = reader) -> dict[str, Any]:
        """A model's card, or 404 `model_not_found`."""
        models = served_models(state_of(request), user)
        if model_id not in models:
            open_model(request, user, model_id)  # refused: audited and answered as the check answers
        return model_card(models[model_id])

    @router.post("/chat/completions", summary="Answer the last user message, with citations")
    async def chat_completions(body: ChatCompletionRequest, request: Request, user: User = reader) -> Response:
        """An OpenAI chat completion (or its stream) whose extra `citations` and `rag` fields carry the sources."""
        state = state_of(request)
        bot = await run_in_threadpool(open_model, request, user, body.model)
        _check_supported(body)
        question, history = _conversation(body.messages)
        try:
            validate_question(question, bot.settings.max_question_chars)
        except rag.QuestionError as exc:
            raise OpenAIError(400, f"messages: {exc}", param="messages") from None
        state.limit_question(user)
        completion = wire.OpenAICompletion(body.model)
        if body.stream:
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            events = _events(bot, question, history, completion)
            return StreamingResponse(events, media_type="text/event-stream", headers=headers)
        try:
            answer = await run_in_threadpool(bot.ask, question, history=history)
        except rag.QuestionError as exc:
            raise OpenAIError(400, f"messages: {exc}", param="messages") from None
        return JSONResponse(completion.response(answer))

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def not_found(rest: str, request: Request) -> None:
        raise OpenAIError(404, f"Invalid URL ({request.method} /v1/{rest})", code="unknown_url")

    return router
