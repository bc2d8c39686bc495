"""Answerers turn a question and its retrieved passages into a cited ``Answer``.

An answerer is anything with ``answer(question, passages) -> Answer``. ``build_answerer`` picks one by
name from ``ANSWERERS``; each backend lives in its own module and is imported only when chosen, so the
extractive default never imports an LLM client.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from rag.answer import Answer
from rag.config import Settings
from rag.errors import ConfigError
from rag.retrieval import Passage

__all__ = ["ANSWERERS", "Answerer", "build_answerer"]

logger = logging.getLogger(__name__)


@runtime_checkable
class Answerer(Protocol):
    """Writes the answer to ``question`` from ``passages`` (best first), citing them as ``[n]``."""

    @property
    def name(self) -> str:
        """The backend's name, reported as ``Answer.backend``."""
        ...

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """Answer ``question`` from ``passages``; cite them by their position (``[1]`` is ``passages[0]``)."""
        ...


def _extractive(settings: Settings) -> Answerer:
    from rag.answerers.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(min_score=settings.min_score, max_sentences=settings.max_answer_sentences)


def _openai(settings: Settings) -> Answerer:
    from rag.answerers.hosted import build_openai

    return build_openai(settings)


def _azure(settings: Settings) -> Answerer:
    from rag.answerers.hosted import build_azure

    return build_azure(settings)


def _ollama(settings: Settings) -> Answerer:
    from rag.answerers.local import build_ollama

    return build_ollama(settings)


def _llamacpp(settings: Settings) -> Answerer:
    from rag.answerers.local import build_llamacpp

    return build_llamacpp(settings)


def _auto(settings: Settings) -> Answerer:
    """Hosted when a key (or a compatible server) is configured, else Ollama if it answers, else extractive."""
    from rag.answerers.local import ollama_host, ollama_is_up

    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        choice = "openai"
    elif os.environ.get("AZURE_OPENAI_API_KEY") and os.environ.get("AZURE_OPENAI_ENDPOINT"):
        choice = "azure"
    elif ollama_is_up(ollama_host(settings)):
        choice = "ollama"
    else:
        choice = "extractive"
    logger.info("answerer 'auto' chose %s", choice)
    return ANSWERERS[choice](settings)


ANSWERERS: dict[str, Callable[[Settings], Answerer]] = {
    "extractive": _extractive,
    "openai": _openai,
    "azure": _azure,
    "ollama": _ollama,
    "llamacpp": _llamacpp,
    "auto": _auto,
}


def build_answerer(settings: Settings) -> Answerer:
    """Build the answerer named by ``settings.answerer``.

    Raises:
        ConfigError: No answerer has that name.
    """
    try:
        factory = ANSWERERS[settings.answerer]
    except KeyError:
        raise ConfigError(
            f"unknown answerer {settings.answerer!r}; available: {', '.join(sorted(ANSWERERS))}"
        ) from None
    return factory(settings)
