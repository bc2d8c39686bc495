"""Hosted LLM backends: OpenAI, any OpenAI-compatible server, and Azure OpenAI.

They follow the standard environment variables, so existing setups work unchanged:
``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` (vLLM, llama.cpp's server, LM Studio, ...), and
``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_ENDPOINT``, ``OPENAI_API_VERSION``, ``AZURE_OPENAI_DEPLOYMENT``.
Keys are read here, when the answerer is built, and are never stored in ``Settings`` or logged.
"""

from __future__ import annotations

import os

from rag.answerers.llm import LLMAnswerer
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
    chat = ChatOpenAI(
        model=model,
        api_key=key,  # type: ignore[arg-type]
        base_url=base_url,
        temperature=0,
        timeout=settings.llm_timeout_s,
        max_retries=1,
    )
    where = base_url or "api.openai.com"
    return LLMAnswerer("openai", chat, f"OpenAI-compatible server at {where} ({model})", settings.llm_timeout_s)


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
        timeout=settings.llm_timeout_s,
        max_retries=1,
    )
    return LLMAnswerer("azure", chat, f"Azure OpenAI at {endpoint} ({deployment})", settings.llm_timeout_s)
