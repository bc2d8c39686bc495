"""Answerers turn a question and its retrieved passages into a cited ``Answer``.

An answerer is anything with ``answer(question, passages) -> Answer``. ``build_answerer`` picks one by
name from ``ANSWERERS``; each backend lives in its own module and is imported only when chosen, so the
extractive default never imports an LLM client. A backend whose client library fails to construct (a new
release that refuses an argument, an endpoint it cannot parse) becomes an ``UnbuiltAnswerer``: every
question then falls back to the extractive answer with a notice saying why, as for any backend failure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rag.answer.types import Answer
from rag.config import Settings
from rag.errors import AnswererUnavailable, ConfigError
from rag.retrieve.passages import Passage

__all__ = ["ANSWERERS", "Answerer", "UnbuiltAnswerer", "build_answerer"]

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
    from rag.answer.answerers.extractive import ExtractiveAnswerer

    if settings.min_score is None:
        return ExtractiveAnswerer(max_sentences=settings.max_answer_sentences)
    return ExtractiveAnswerer(min_score=settings.min_score, max_sentences=settings.max_answer_sentences)


def _openai(settings: Settings) -> Answerer:
    from rag.answer.answerers.hosted import build_openai

    return build_openai(settings)


def _azure(settings: Settings) -> Answerer:
    from rag.answer.answerers.hosted import build_azure

    return build_azure(settings)


def _ollama(settings: Settings) -> Answerer:
    from rag.answer.answerers.local import build_ollama

    return build_ollama(settings)


def _llamacpp(settings: Settings) -> Answerer:
    from rag.answer.answerers.local import build_llamacpp

    return build_llamacpp(settings)


def _auto(settings: Settings) -> Answerer:
    """Hosted when a key (or a compatible server) is configured, else Ollama if it answers, else extractive."""
    from rag.answer.answerers.local import ollama_host, ollama_is_up

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


_KEY_VARIABLES = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")


def _without_keys(text: str) -> str:
    # A client's error message may quote its arguments; a key must never reach a notice or a log.
    for name in _KEY_VARIABLES:
        key = os.environ.get(name)
        if key and len(key) >= 4:
            text = text.replace(key, "***")
    return text


@dataclass(frozen=True)
class UnbuiltAnswerer:
    """A backend whose client could not be constructed: each answer raises ``AnswererUnavailable`` with why.

    Attributes:
        name: The backend's name, as asked for.
        reason: What went wrong, safe to show (the exception's type and message; never a key).
    """

    name: str
    reason: str

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """Raise ``AnswererUnavailable``: the pipeline answers extractively and shows the notice."""
        raise AnswererUnavailable(f"the {self.name} answerer could not be started ({self.reason})")


def build_answerer(settings: Settings) -> Answerer:
    """Build the answerer named by ``settings.answerer``.

    A client library that raises anything but ``ConfigError`` while the backend is built gives an
    ``UnbuiltAnswerer`` (logged once, here), so questions fall back with a notice instead of a traceback.

    Raises:
        ConfigError: No answerer has that name, or the backend's settings are missing or invalid.
    """
    try:
        factory = ANSWERERS[settings.answerer]
    except KeyError:
        raise ConfigError(
            f"unknown answerer {settings.answerer!r}; available: {', '.join(sorted(ANSWERERS))}"
        ) from None
    try:
        return factory(settings)
    except ConfigError:
        raise
    except Exception as exc:
        reason = _without_keys(f"{type(exc).__name__}: {exc}")
        logger.warning("the %s answerer could not be started (%s); answering extractively", settings.answerer, reason)
        return UnbuiltAnswerer(settings.answerer, reason)
