"""The ``Bot``: a loaded index, an embedder and an answerer, put together behind ``ask`` and ``retrieve``.

``rag.load()`` resolves every default (docs and index folders, the packaged model, the extractive
answerer), brings the index up to date, and returns a ``Bot``. A ``Bot`` is safe to share between threads:
readers take a snapshot of the current index, and writers (``add_documents``, ``refresh``) build a new one
and swap it in under a lock.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answer import Answer
from rag.answerers import ANSWERERS, Answerer, build_answerer
from rag.answerers.verify import verify_answer
from rag.config import RetrievalMode, Settings
from rag.documents import Document, check_supported, load_document, load_documents
from rag.embeddings import Embedder, export_onnx, get_embedder
from rag.errors import AnswererUnavailable, DocumentError, QuestionError
from rag.followups import History, heuristic_rewrite, looks_like_follow_up, normalize_history
from rag.indexing import IndexReport, sync_index
from rag.retrieval import Passages, Retriever
from rag.store import ChunkStore

__all__ = ["Bot", "load", "open_index", "validate_question"]

logger = logging.getLogger(__name__)

_HAS_WORD = re.compile(r"\w", re.UNICODE)


def validate_question(question: object, max_chars: int = 4000) -> str:
    """Return ``question`` stripped, or raise ``QuestionError`` saying what is wrong with it.

    Raises:
        QuestionError: Not a string, empty, longer than ``max_chars``, with NUL bytes, or with no letter
            or digit to search for.
    """
    if not isinstance(question, str):
        raise QuestionError(f"a question must be a string, got {type(question).__name__}")
    text = question.strip()
    if not text:
        raise QuestionError("the question is empty; type a question about the documents")
    if len(text) > max_chars:
        raise QuestionError(f"the question is {len(text):,} characters long; the limit is {max_chars:,}")
    if "\x00" in text:
        raise QuestionError("the question contains NUL bytes")
    if not _HAS_WORD.search(text):
        raise QuestionError("the question has no words in it, only punctuation or symbols")
    return text


@dataclass(frozen=True)
class _Snapshot:
    """The index as readers see it; replaced whole, never changed in place."""

    store: ChunkStore
    retriever: Retriever


class Bot:
    """Answers questions about a folder of documents, with citations.

    Build one with ``rag.load()``. Example:
        >>> import rag
        >>> bot = rag.load()
        >>> answer = bot.ask("Who signed the KT-Microsoft agreement, and where?")
        >>> answer.citations[0].source
        '000_9e8dd42f31235db3.txt'
    """

    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore, answerer: Answerer) -> None:
        self.settings = settings
        self.embedder = embedder
        self.answerer = answerer
        # The fallback when an LLM backend fails: always available, needs nothing.
        self._extractive = ANSWERERS["extractive"](settings)
        self._snapshot = _Snapshot(store, Retriever(store))
        self._snapshot.retriever.warm_up()
        self._write_lock = threading.Lock()

    def __repr__(self) -> str:
        store = self._snapshot.store
        return (
            f"Bot(documents={len(store.manifest.files)}, chunks={len(store)}, index_dir='{self.settings.index_dir}', "
            f"answerer='{self.answerer.name}', retrieval='{self.settings.retrieval}')"
        )

    @property
    def documents(self) -> list[str]:
        """Names of the indexed documents."""
        return sorted(self._snapshot.store.manifest.files)

    @property
    def store(self) -> ChunkStore:
        """The current index (read-only use)."""
        return self._snapshot.store

    # ------------------------------------------------------------------------------------ asking

    def retrieve(self, question: str, k: int | None = None, *, retrieval: RetrievalMode | None = None) -> Passages:
        """Return the ``k`` passages most relevant to ``question`` (``settings.top_k`` when None), best first.

        Example:
            >>> bot.retrieve("Mi:dm training data", k=2).to_frame()[["source", "score"]]  # doctest: +SKIP

        Raises:
            QuestionError: The question is empty, too long, or has nothing to search for.
        """
        text = validate_question(question, self.settings.max_question_chars)
        return self._retrieve(text, self._resolve_k(k), retrieval)

    def _resolve_k(self, k: int | None) -> int:
        k = self.settings.top_k if k is None else k
        if not 1 <= k <= 100:
            raise QuestionError(f"k must be between 1 and 100, got {k}")
        return k

    def _retrieve(
        self, text: str, k: int, retrieval: RetrievalMode | None, snapshot: _Snapshot | None = None
    ) -> Passages:
        snapshot = snapshot or self._snapshot
        vector = self.embedder.encode_one(text)
        return snapshot.retriever.retrieve(text, vector, k, retrieval or self.settings.retrieval)

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        retrieval: RetrievalMode | None = None,
        history: History | None = None,
        answerer: Answerer | None = None,
    ) -> Answer:
        """Answer ``question`` from the documents, citing the passages used as ``[n]``.

        Args:
            question: The question, at most ``settings.max_question_chars`` characters.
            k: Passages to retrieve; ``settings.top_k`` when None.
            retrieval: ``"dense"`` or ``"hybrid"``; ``settings.retrieval`` when None.
            history: Earlier turns (``[{"role": "user", "content": ...}, ...]``); a follow-up question is
                rewritten into a standalone one before retrieval.
            answerer: Use this answerer instead of the bot's own for this question.

        Returns:
            An ``Answer``; ``answer.refused`` is True when the documents do not say. When an LLM backend
            fails, the extractive answer comes back instead, with ``backend="extractive"`` and a ``notice``.

        Raises:
            QuestionError: The question is empty, too long, or has nothing to search for.

        Example:
            >>> answer = bot.ask("How many tokens was Mi:dm trained on?")
            >>> answer.refused
            False
        """
        final: Answer | None = None
        for item in self._answer(question, k, retrieval, history, answerer, streaming=False):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        retrieval: RetrievalMode | None = None,
        history: History | None = None,
        answerer: Answerer | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as it is written, then the complete ``Answer`` as the last item.

        The last item is authoritative: if an LLM fails mid-stream, the pieces already yielded are replaced
        by the extractive answer it carries (with a ``notice`` saying so). Arguments are those of ``ask``.

        Example:
            >>> for piece in bot.stream("When will KT reveal the details?"):
            ...     if isinstance(piece, rag.Answer):
            ...         answer = piece
            ...     else:
            ...         print(piece, end="")  # doctest: +SKIP

        Raises:
            QuestionError: The question is empty, too long, or has nothing to search for.
        """
        yield from self._answer(question, k, retrieval, history, answerer, streaming=True)

    def _answer(
        self,
        question: str,
        k: int | None,
        retrieval: RetrievalMode | None,
        history: History | None,
        answerer: Answerer | None,
        *,
        streaming: bool,
    ) -> Iterator[str | Answer]:
        started = time.perf_counter()
        text = validate_question(question, self.settings.max_question_chars)
        k = self._resolve_k(k)  # before a follow-up rewrite can cost an LLM request
        answerer = answerer or self.answerer
        turns = normalize_history(history)
        notices: list[str] = []
        standalone = text
        if turns and looks_like_follow_up(text):
            standalone, notice = self._standalone(text, turns, answerer)
            notices += [notice] if notice else []
        snapshot = self._snapshot
        passages = self._retrieve(standalone, k, retrieval, snapshot)
        retrieved = time.perf_counter()
        answer: Answer | None = None
        try:
            if streaming and hasattr(answerer, "stream"):
                for item in answerer.stream(standalone, passages):
                    if isinstance(item, Answer):
                        answer = item
                    else:
                        yield item
            else:
                answer = answerer.answer(standalone, passages)
        except AnswererUnavailable as exc:
            notices.append(f"{exc}; showing extracted passages instead.")
            answer = self._extractive.answer(standalone, passages)
        assert answer is not None
        answer = verify_answer(
            answer,
            mode=self.settings.verify,
            embedder=self.embedder,
            store=snapshot.store,
            fallback=lambda: self._extractive.answer(standalone, passages),
        )
        finished = time.perf_counter()
        answer.question = question
        answer.standalone_question = standalone if standalone != text else None
        answer.notice = " ".join(n for n in [*notices, answer.notice] if n) or None
        answer.timings_ms = {
            "retrieve": (retrieved - started) * 1000,
            "answer": (finished - retrieved) * 1000,
            "total": (finished - started) * 1000,
        }
        if streaming and answer.backend == self._extractive.name and not hasattr(answerer, "stream"):
            yield from re.findall(r"\S+\s*", answer.text)
        yield answer

    def _standalone(self, question: str, turns: list[tuple[str, str]], answerer: Answerer) -> tuple[str, str | None]:
        """Rewrite a follow-up with the LLM when there is one, else (or if it fails) with the heuristic."""
        rewrite = getattr(answerer, "rewrite", None)
        if rewrite is not None:
            try:
                return str(rewrite(question, turns)), None
            except AnswererUnavailable as exc:
                return heuristic_rewrite(question, turns), f"{exc}; the follow-up was rewritten without it."
        return heuristic_rewrite(question, turns), None

    # ---------------------------------------------------------------------------------- indexing

    def refresh(self, *, rebuild: bool = False) -> IndexReport:
        """Bring the index up to date with the docs folder (re-embedding only what changed)."""
        with self._write_lock:
            store, report = sync_index(self.settings, self.embedder, rebuild=rebuild, current=self.store)
            self._snapshot = self._next_snapshot(store)
        return report

    def _next_snapshot(self, store: ChunkStore) -> _Snapshot:
        """The snapshot of a refreshed ``store``; its BM25 is derived from the current one's, in the background."""
        if store is self._snapshot.store:
            return self._snapshot
        retriever = Retriever(store, previous=self._snapshot.retriever)
        retriever.warm_up()
        return _Snapshot(store, retriever)

    def add_documents(self, items: Sequence[Document | Path | str], *, overwrite: bool = False) -> IndexReport:
        """Copy documents into the docs folder and index them.

        Args:
            items: ``Document`` objects (e.g. ``Document.from_text("notes.md", text)``), or paths of
                ``.txt``/``.md`` files or of folders holding them.
            overwrite: Replace a document of the same name whose content differs.

        Returns:
            What was embedded.

        Example:
            >>> bot.add_documents([rag.Document.from_text("notes.md", "Ada Berg leads the Zorblat project.")])
            >>> bot.ask("Who leads the Zorblat project?").citations[0].source
            'notes.md'

        Raises:
            DocumentError: A file is unreadable, binary, empty, too large or of another type, or a name is
                taken by a different document; nothing is added in that case.
        """
        documents = self._collect(items)
        docs_dir = self.settings.docs_dir
        for doc in documents:
            # Only the files these would replace are read: the rest of the folder can be large.
            target = docs_dir / doc.source
            try:
                old = load_document(target, doc.source) if target.is_file() else None
            except DocumentError:
                old = None  # an unreadable file of that name is not indexed: replacing it loses nothing
            if old is not None and old.sha256 != doc.sha256 and not overwrite:
                raise DocumentError(
                    f"a different document named {doc.source} is already indexed; rename it or pass overwrite=True",
                    docs_dir / doc.source,
                )
        with self._write_lock:
            for doc in documents:
                target = docs_dir / doc.source
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".{target.name}.tmp")
                temporary.write_text(doc.text, encoding="utf-8")
                temporary.replace(target)
            store, report = sync_index(self.settings, self.embedder, current=self.store)
            self._snapshot = self._next_snapshot(store)
        return report

    @staticmethod
    def _collect(items: Sequence[Document | Path | str]) -> list[Document]:
        if isinstance(items, (str, Path, Document)):
            items = [items]
        documents: list[Document] = []
        for item in items:
            if isinstance(item, Document):
                documents.append(item)
                continue
            path = Path(item)
            if path.is_dir():
                documents.extend(load_documents(path))
            else:
                check_supported(path)
                documents.append(load_document(path))
        return documents

    # --------------------------------------------------------------------------------- LangChain

    @property
    def retriever(self) -> Any:
        """This bot's retrieval as a LangChain ``BaseRetriever``, for use in any LangChain chain."""
        from rag.langchain_retriever import BotRetriever

        return BotRetriever(bot=self)


def load(
    docs_dir: Path | str | None = None,
    index_dir: Path | str | None = None,
    *,
    answerer: str | None = None,
    model: str | None = None,
    settings: Settings | None = None,
    rebuild: bool = False,
    progress: bool = True,
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
        **overrides: Any other ``Settings`` field, e.g. ``top_k=5`` or ``retrieval="dense"``.

    Raises:
        ConfigError: A setting is invalid or the embedding model cannot be loaded.
        DocumentError: The docs folder is missing or holds no readable document.

    Example:
        >>> import rag
        >>> bot = rag.load()
        >>> print(bot.ask("When will KT share the details of the partnership?").text)  # doctest: +SKIP
        KT says it will unveil specifics of the partnership by September. [1]
    """
    base = settings if settings is not None else Settings.from_env()
    settings = base.replace(docs_dir=docs_dir, index_dir=index_dir, answerer=answerer, model=model, **overrides)
    embedder, store, _ = open_index(settings, rebuild=rebuild, progress=progress)
    return Bot(settings, embedder, store, build_answerer(settings))


def open_index(
    settings: Settings, *, rebuild: bool = False, progress: bool = True
) -> tuple[Embedder, ChunkStore, IndexReport]:
    """Load the embedding model, bring the index up to date, and return both with what was done.

    When the model runs on sentence-transformers only because no ONNX export exists yet (backend
    ``"auto"``), it is exported now, while it is loaded anyway, so that the next start is a fast one.

    Raises:
        ConfigError: The embedding model cannot be loaded.
        DocumentError: The docs folder is missing or holds no readable document.
    """
    embedder = get_embedder(
        settings.embedding_model,
        backend=settings.embedding_backend,
        device=settings.device,
        cache_dir=settings.cache_dir,
        query_precision=settings.query_precision,
    )
    store, report = sync_index(settings, embedder, rebuild=rebuild, progress=progress)
    if settings.embedding_backend == "auto" and embedder.backend == "torch":
        export_onnx(settings.embedding_model, settings.cache_dir, settings.device)
    return embedder, store, report
