"""``rag.load``: every default resolved, the model loaded, the index brought up to date, and a ``Bot`` returned."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rag.answer.answerers import build_answerer
from rag.bot.bot import Bot
from rag.bot.registry import DEFAULT, OPERATOR, Registry, settings_for
from rag.config import Settings
from rag.embeddings import Embedder, embedder_for, export_onnx
from rag.errors import ConfigError
from rag.indexing.progress import ProgressCallback
from rag.indexing.refresh import IndexReport
from rag.indexing.sync import sync_store
from rag.stores.base import Store

__all__ = ["collection_settings", "load", "open_index"]


def load(
    docs_dir: Path | str | None = None,
    index_dir: Path | str | None = None,
    *,
    answerer: str | None = None,
    model: str | None = None,
    settings: Settings | None = None,
    rebuild: bool = False,
    progress: bool = True,
    collection: str | None = None,
    **overrides: Any,
) -> Bot:
    """Load a bot over ``docs_dir``, building or refreshing its index in ``index_dir`` as needed.

    Every argument left as None comes from ``settings`` (or ``Settings.from_env()``): docs in ``seeds/``,
    the index in ``index/``, the packaged all-MiniLM-L6-v2 model and the extractive answerer.

    Args:
        docs_dir: Folder of ``.txt``/``.md`` documents.
        index_dir: Folder of the persisted index.
        answerer: Answerer backend name.
        model: LLM model name for LLM answerers.
        settings: Base settings; ``Settings.from_env()`` when None.
        rebuild: Re-embed everything even if the index is up to date.
        progress: Show progress bars while embedding.
        collection: A collection of the registry (``rag collections``): its docs folder, index folder and
            PostgreSQL schema replace ``docs_dir``'s and ``index_dir``'s; ``default`` (or None) is today's corpus.
        **overrides: Any other ``Settings`` field, e.g. ``top_k=5`` or ``retrieval="dense"``.

    Raises:
        ConfigError: A setting is invalid or the embedding model cannot be loaded.
        CollectionNotFound: No collection of that name.
        DocumentError: The docs folder is missing or holds no readable document.

    Example:
        >>> import rag
        >>> bot = rag.load()
        >>> print(bot.ask("When will KT share the details of the partnership?").text)  # doctest: +SKIP
        KT says it will unveil specifics of the partnership by September. [1]
    """
    base = settings if settings is not None else Settings.from_env()
    settings = base.replace(docs_dir=docs_dir, index_dir=index_dir, answerer=answerer, model=model, **overrides)
    settings = collection_settings(settings, collection, docs_given=docs_dir is not None)
    embedder, store, _ = open_index(settings, rebuild=rebuild, progress=progress)
    return Bot(settings, embedder, store, build_answerer(settings))


def collection_settings(settings: Settings, collection: str | None, *, docs_given: bool = False) -> Settings:
    """``settings`` for ``collection`` of its registry (the operator's view: every collection is readable).

    Raises:
        ConfigError: A docs folder given beside a collection other than default (the registry holds its folder).
        CollectionNotFound: No collection of that name.
    """
    if collection is None or collection == DEFAULT:
        return settings
    if docs_given:
        raise ConfigError(f"collection {collection!r} has its own docs folder (rag collections list); drop --docs")
    return settings_for(settings, Registry.of(settings).require(OPERATOR, collection))


def open_index(
    settings: Settings,
    *,
    rebuild: bool = False,
    progress: bool | ProgressCallback = True,
    cancel: threading.Event | None = None,
) -> tuple[Embedder, Store, IndexReport]:
    """Load the embedding model, bring the index up to date, and return both with what was done.

    When the model runs on sentence-transformers only because no ONNX export exists yet (backend
    ``"auto"``), it is exported now, while it is loaded anyway, so that the next start is a fast one.

    ``cancel``: set it to stop after the step in progress (``sync_store``'s; ``IndexCancelled`` says what was kept).

    Raises:
        ConfigError: The embedding model cannot be loaded.
        DocumentError: The docs folder is missing or holds no readable document.
    """
    embedder = embedder_for(settings)
    store, report = sync_store(settings, embedder, rebuild=rebuild, progress=progress, cancel=cancel)
    if settings.embedding_backend == "auto" and embedder.backend == "torch":
        export_onnx(settings.embedding_model, settings.cache_dir, settings.device)
    return embedder, store, report
