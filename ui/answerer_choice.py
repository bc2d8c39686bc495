"""Which answerers the chat's Settings offer, and the answerers built for them (in-process models bounded).

On a server the choice is a fixed list (``rag serve --chat-answerer NAME[:MODEL]``, plus the server's own
answerer): a reader picks one of those labels and nothing else, whatever a crafted request says, so no
reader can make the server load a model file (``llamacpp`` with a ``.gguf`` path), call an endpoint or run a
model that its operator did not name. The single-user page of ``ui.app`` (no server, loopback only) keeps
the free choice among the backends that can answer now (``rag.answer.backends``: a key set, Ollama
answering, a model file present), each labelled with its model, and any model typed in or picked from the
server's own list.

Either way at most one in-process model (llama.cpp) is held besides the bot's own: choosing another drops
the previous one, so switching between models cannot fill the memory.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import cast

from rag.answer.answerers import ANSWERERS, Answerer, build_answerer
from rag.answer.backends import available_backends
from rag.config import AnswererName, Settings
from rag.errors import ConfigError

__all__ = ["IN_PROCESS", "AnswererChoices", "label_of", "parse_choice"]

IN_PROCESS = frozenset({"llamacpp"})  # backends that load a model into this process's memory


def label_of(name: str, model: str) -> str:
    """What the dropdown shows for an answerer: ``"extractive"``, ``"openai: gpt-4o-mini"``."""
    return f"{name}: {model}" if model else name


def parse_choice(entry: str) -> tuple[str, str]:
    """``"openai:gpt-4o-mini"`` -> ``("openai", "gpt-4o-mini")``; ``"extractive"`` -> ``("extractive", "")``.

    Only the first colon splits, so Ollama tags (``ollama:llama3.2:latest``) keep theirs.

    Raises:
        ConfigError: The name is not an answerer.
    """
    name, _, model = (part.strip() for part in entry.strip().partition(":"))
    if name not in ANSWERERS:
        raise ConfigError(
            f"--chat-answerer {entry!r}: unknown answerer {name!r}; use NAME or NAME:MODEL with NAME one of "
            f"{', '.join(ANSWERERS)}"
        )
    return name, model


class AnswererChoices:
    """The answerers a chat page offers and the ones built so far.

    Args:
        settings: The bot's settings; its own answerer (``answerer``/``model``) is always offered, first.
        offered: ``NAME`` or ``NAME:MODEL`` entries the page may offer besides; None offers every backend
            with a free model name (the single-user page only).
        default: The bot's own answerer, already built.

    Raises:
        ConfigError: An entry names no answerer.
    """

    def __init__(self, settings: Settings, offered: Sequence[str] | None, default: Answerer | None = None) -> None:
        self.settings = settings
        self.free = offered is None
        own = (settings.answerer, settings.model or "")
        entries = [own, *(parse_choice(e) for e in offered or ())]
        self._offered = {label_of(*key): key for key in dict.fromkeys(entries)}
        self._built: dict[tuple[str, str], Answerer] = {own: default} if default is not None else {}
        self._own = own
        self._lock = threading.Lock()
        self._available: dict[str, tuple[str, str]] = {}
        if self.free:
            self.refresh()

    def refresh(self) -> list[str]:
        """On the free page, look again at which backends can answer now (``rag.answer.backends``); the labels."""
        if self.free:
            found = {b.label: (b.name, b.model) for b in available_backends(self.settings)}
            own = self.settings.answerer
            if own not in {name for name, _ in found.values()}:
                found = {own: (own, self.settings.model or ""), **found}  # the bot's own, whatever it is
            self._available = found
        return self.labels

    @property
    def labels(self) -> list[str]:
        """The dropdown's choices: the backends that can answer now on the free page, else the offered ones."""
        return list(self._available) if self.free else list(self._offered)

    @property
    def default_label(self) -> str:
        """The choice shown first: the bot's own answerer."""
        if self.free:
            own = [label for label, (name, _) in self._available.items() if name == self.settings.answerer]
            return own[0] if own else self.settings.answerer
        return label_of(*self._own)

    def key(self, label: str, model: str = "") -> tuple[str, str]:
        """The (backend, model) a choice stands for; ``model`` counts only on the free page.

        Raises:
            ConfigError: The label is not offered here.
        """
        if self.free:
            name, listed = self._available.get(label, (label, ""))
            if name not in ANSWERERS:
                raise ConfigError(f"unknown answerer {label!r}; choose one of: {', '.join(self._available)}")
            return name, model.strip() or listed
        if label not in self._offered:
            raise ConfigError(f"the answerer {label!r} is not offered here; choose one of: {', '.join(self._offered)}")
        return self._offered[label]

    def build(self, label: str, model: str = "") -> Answerer:
        """The answerer for a choice, built once; an in-process model replaces the previous one.

        Raises:
            ConfigError: The choice is not offered, or its backend cannot be built.
        """
        key = self.key(label, model)
        with self._lock:
            if key not in self._built:
                if key[0] in IN_PROCESS:
                    for other in [k for k in self._built if k[0] in IN_PROCESS and k != self._own]:
                        del self._built[other]  # dropped: freed once the questions still using it finish
                # dataclasses.replace, not Settings.replace: a choice without a model must not inherit the bot's
                name = cast(AnswererName, key[0])  # a name of ANSWERERS: _parse and the dropdown check it
                chosen = dataclasses.replace(self.settings, answerer=name, model=key[1] or None)
                self._built[key] = build_answerer(chosen)
            return self._built[key]

    def loaded_in_process(self) -> list[str]:
        """Labels of the in-process models held now (the bot's own excepted)."""
        with self._lock:
            return [label_of(*k) for k in self._built if k[0] in IN_PROCESS and k != self._own]
