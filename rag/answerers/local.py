"""Local LLM backends: an Ollama server, or a GGUF model run in-process by llama.cpp.

``OLLAMA_HOST`` says where Ollama listens (default http://127.0.0.1:11434). llama.cpp needs the optional
``llama-cpp-python`` package (``pip install 'rag[llamacpp]'``) and ``RAG_LLAMACPP_MODEL=/path/model.gguf``.
"""

from __future__ import annotations

import os
from pathlib import Path

from rag.answerers.llm import LLMAnswerer
from rag.config import Settings
from rag.errors import ConfigError

__all__ = ["build_llamacpp", "build_ollama", "ollama_host", "ollama_is_up"]

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "llama3.2"


def ollama_host(settings: Settings) -> str:
    """The Ollama base URL: the settings' ``llm_base_url``, else ``OLLAMA_HOST``, else the default."""
    host = settings.llm_base_url or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST
    return host if "://" in host else f"http://{host}"


def ollama_is_up(host: str, timeout_s: float = 1.0) -> bool:
    """True when an Ollama server answers at ``host`` (one quick request to ``/api/tags``)."""
    import httpx

    try:
        return httpx.get(f"{host.rstrip('/')}/api/tags", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def build_ollama(settings: Settings) -> LLMAnswerer:
    """An answerer on an Ollama server's ``/api/chat``.

    Raises:
        ConfigError: langchain-ollama is not installed.
    """
    try:
        from langchain_ollama import ChatOllama
    except ImportError:
        raise ConfigError("the ollama answerer needs langchain-ollama; run: pip install 'rag[llm]'") from None
    host = ollama_host(settings)
    model = settings.model or DEFAULT_OLLAMA_MODEL
    chat = ChatOllama(
        model=model,
        base_url=host,
        temperature=0,
        client_kwargs={"timeout": settings.llm_timeout_s},
    )
    return LLMAnswerer("ollama", chat, f"Ollama at {host} ({model})", settings.llm_timeout_s)


def build_llamacpp(settings: Settings) -> LLMAnswerer:
    """An answerer running a GGUF model in this process with llama.cpp.

    Raises:
        ConfigError: ``RAG_LLAMACPP_MODEL`` is unset or names no file, or llama-cpp-python is missing.
    """
    model = settings.model if settings.model and settings.model.endswith(".gguf") else None
    path_text = model or os.environ.get("RAG_LLAMACPP_MODEL")
    if not path_text:
        raise ConfigError(
            "the llamacpp answerer needs a GGUF model file: set RAG_LLAMACPP_MODEL=/path/model.gguf "
            "(or pass --model /path/model.gguf)"
        )
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(f"RAG_LLAMACPP_MODEL points to {path}, which is not a file")
    try:
        import llama_cpp  # noqa: F401
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError:
        raise ConfigError(
            "the llamacpp answerer needs llama-cpp-python and langchain-community; "
            "run: pip install 'rag[llamacpp]' (it compiles llama.cpp, about 5 minutes)"
        ) from None
    chat = ChatLlamaCpp(model_path=str(path), temperature=0, n_ctx=4096, verbose=False)
    return LLMAnswerer("llamacpp", chat, f"llama.cpp ({path.name})", settings.llm_timeout_s)
