"""Hosted LLM backends: OpenAI, any OpenAI-compatible server, and Azure OpenAI.

They follow the standard environment variables, so existing setups work unchanged:
``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` (vLLM, llama.cpp's server, LM Studio, ...), and
``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_ENDPOINT``, ``OPENAI_API_VERSION``, ``AZURE_OPENAI_DEPLOYMENT``.
Keys are read here, when the answerer is built, and are never stored in ``Settings`` or logged.

Every request is bounded. LangChain sends the token limit as ``max_completion_tokens``, which OpenAI and
Azure honour but llama.cpp's server ignores (a reply then runs to the end of the context: 2,035 tokens in
118 s with SmolLM2), so a compatible server gets ``max_tokens`` in the request body instead, the name
llama.cpp, vLLM and LM Studio read. The connect timeout is separate from the read timeout, so a dead
server is noticed in about a second while a slow answer still gets ``llm_timeout_s``. The timeout is the
``openai`` package's own ``Timeout`` type: openai 3.x builds its clients on httpx2 and refuses an
``httpx.Timeout`` (a TypeError at construction), and ``openai.Timeout`` is the type each version accepts.
"""

from __future__ import annotations

import os
from typing import Any

from rag.answer.answerers.llm import LLMAnswerer
from rag.config import Settings
from rag.errors import ConfigError

__all__ = ["build_azure", "build_openai"]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_AZURE_API_VERSION = "2024-10-21"


def _require_llm_extra() -> None:
    try:
        import langchain_openai  # noqa: F401
    except ImportError:
        raise ConfigError("the openai and azure answerers need langchain-openai; run: pip install 'rag[llm]'") from None


def timeout(settings: Settings) -> Any:
    """The HTTP timeout of an LLM request: ``llm_connect_timeout_s`` to connect, ``llm_timeout_s`` for the rest.

    An ``openai.Timeout``: httpx's type for openai 1.x-2.x, httpx2's for openai 3.x.
    """
    import openai

    return openai.Timeout(settings.llm_timeout_s, connect=settings.llm_connect_timeout_s)


def json_schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's (and Azure's) standard structured output, strict, in the request body."""
    strict_schema = _without_string_lengths(schema)
    format_ = {"type": "json_schema", "json_schema": {"name": "cited_answer", "strict": True, "schema": strict_schema}}
    return {"extra_body": {"response_format": format_}}


def json_object_format(schema: dict[str, Any]) -> dict[str, Any]:
    """llama.cpp's server form: ``json_object`` with a schema (its ``json_schema`` type gets HTTP 500)."""
    return {"extra_body": {"response_format": {"type": "json_object", "schema": schema}}}


def _without_string_lengths(schema: Any) -> Any:
    # OpenAI's strict mode rejects some string keywords; enum and maxItems are what matter here.
    if isinstance(schema, dict):
        return {k: _without_string_lengths(v) for k, v in schema.items() if k != "maxLength"}
    if isinstance(schema, list):
        return [_without_string_lengths(v) for v in schema]
    return schema


def build_openai(settings: Settings) -> LLMAnswerer:
    """An answerer on OpenAI's chat completions API, or a compatible server at ``OPENAI_BASE_URL``.

    Raises:
        ConfigError: langchain-openai is missing, or no API key is set for api.openai.com.
    """
    _require_llm_extra()
    from langchain_openai import ChatOpenAI

    base_url = settings.llm_base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        if base_url is None:
            raise ConfigError("the openai answerer needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)")
        key = "not-needed"  # local OpenAI-compatible servers usually accept any key
    model = settings.model or DEFAULT_OPENAI_MODEL
    limit: dict[str, Any] = (
        {"max_completion_tokens": settings.llm_max_tokens}  # which OpenAI honours
        if base_url is None
        else {"extra_body": {"max_tokens": settings.llm_max_tokens}}
    )
    chat = ChatOpenAI(
        model=model,
        api_key=key,  # type: ignore[arg-type]
        base_url=base_url,
        temperature=0,
        timeout=timeout(settings),
        max_retries=1,
        **limit,
    )
    # A compatible server's support for structured output varies: JSON there only when asked for
    # (RAG_CITATIONS=json), in llama.cpp's form.
    citations = settings.citations if settings.citations != "auto" else ("json" if base_url is None else "markers")
    structured = None if citations == "markers" else json_schema_format if base_url is None else json_object_format
    where = base_url or "api.openai.com"
    return LLMAnswerer(
        "openai",
        chat,
        f"OpenAI-compatible server at {where} ({model})",
        settings.llm_timeout_s,
        settings.llm_connect_timeout_s,
        request_kwargs={"extra_body": limit["extra_body"]} if "extra_body" in limit else {},
        structured_kwargs=structured,
    )


def build_azure(settings: Settings) -> LLMAnswerer:
    """An answerer on an Azure OpenAI deployment.

    Raises:
        ConfigError: langchain-openai is missing, or the endpoint, key or deployment is not set.
    """
    _require_llm_extra()
    from langchain_openai import AzureChatOpenAI

    endpoint = settings.llm_base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
    key = os.environ.get("AZURE_OPENAI_API_KEY")
    deployment = settings.model or os.environ.get("AZURE_OPENAI_DEPLOYMENT")
    missing = [
        name
        for name, value in (
            ("AZURE_OPENAI_ENDPOINT", endpoint),
            ("AZURE_OPENAI_API_KEY", key),
            ("AZURE_OPENAI_DEPLOYMENT or --model", deployment),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"the azure answerer needs {', '.join(missing)}")
    chat = AzureChatOpenAI(
        azure_endpoint=endpoint,
        azure_deployment=deployment,
        api_key=key,  # type: ignore[arg-type]
        api_version=os.environ.get("OPENAI_API_VERSION", DEFAULT_AZURE_API_VERSION),
        temperature=0,
        timeout=timeout(settings),
        max_retries=1,
        max_completion_tokens=settings.llm_max_tokens,  # which Azure honours
    )
    return LLMAnswerer(
        "azure",
        chat,
        f"Azure OpenAI at {endpoint} ({deployment})",
        settings.llm_timeout_s,
        settings.llm_connect_timeout_s,
        structured_kwargs=None if settings.citations == "markers" else json_schema_format,
    )
