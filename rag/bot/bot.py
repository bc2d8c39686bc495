"""The ``Bot``: a loaded index, an embedder and an answerer, put together behind ``ask`` and ``retrieve``.

``rag.load()`` (``rag.bot.load``) resolves every default (docs and index folders, the packaged model, the
extractive answerer), brings the index up to date, and returns a ``Bot``. A ``Bot`` is safe to share between
threads: readers take a snapshot of the current index, and writers (``add_documents``, ``refresh``) build a new
one and swap it in under a lock.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answer.answerers import ANSWERERS, Answerer
from rag.answer.followups import History, follow_up_terms, heuristic_rewrite, looks_like_follow_up, normalize_history
from rag.answer.types import REFUSAL_TEXT, Answer
from rag.answer.verify import verify_answer
from rag.bot.questions import validate_question
from rag.config import RetrievalMode, Settings
from rag.embeddings import Embedder
from rag.errors import AnswererUnavailable, DocumentError, QuestionError
from rag.indexing.catalog import DocumentInfo, check_document_name, list_documents
from rag.indexing.faiss import IndexCancelled
from rag.indexing.progress import ProgressCallback
from rag.indexing.refresh import IndexReport
from rag.indexing.sync import sync_store
from rag.indexing.texts import stored_text
from rag.ingest.documents import Document, check_supported, load_document, load_documents
from rag.ingest.terms import tokenize
from rag.retrieve.passages import Passages
from rag.retrieve.retriever import Retriever
from rag.retrieve.scopes import resolve_sources
from rag.retrieve.vocabulary import expand_aliases, names_matched_densely, uncovered_script
from rag.stores import SharedStore, Store

__all__ = ["Bot"]

logger = logging.getLogger(__name__)

# A shared index (Postgres) may be changed by another process: a bot looks for a newer version this often,
# before a question, and loads it (one cheap query per interval; a reload reads the chunk list).
SHARED_INDEX_CHECK_S = 2.0


@dataclass(frozen=True)
class _Snapshot:
    """The index as readers see it; replaced whole, never changed in place."""

    store: Store
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

    def __init__(self, settings: Settings, embedder: Embedder, store: Store, answerer: Answerer) -> None:
        self.settings = settings
        self.embedder = embedder
        self.answerer = answerer
        # The fallback when an LLM backend fails: always available, needs nothing.
        self._extractive = ANSWERERS["extractive"](settings)
        self._snapshot = _Snapshot(store, Retriever(store))
        self._snapshot.retriever.warm_up()
        self._write_lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._kept: dict[str, str] = {}  # files whose new version the last refresh could not read, and why

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
    def store(self) -> Store:
        """The current index (read-only use)."""
        return self._snapshot.store

    @property
    def skipped(self) -> dict[str, str]:
        """Files of the docs folder that are not indexed, with the reason for each."""
        return dict(self._snapshot.store.manifest.skipped)

    def document_text(self, source: str) -> str:
        """The text of an indexed document as extracted: ``document_text(c.source)[c.start:c.end] == c.text``.

        Raises:
            DocumentError: ``source`` is not indexed, or its text cannot be read.
        """
        return stored_text(self.settings, self._snapshot.store.manifest, source)

    # ------------------------------------------------------------------------------------ asking

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        *,
        retrieval: RetrievalMode | None = None,
        sources: Sequence[str] | None = None,
    ) -> Passages:
        """Return the ``k`` passages most relevant to ``question`` (``settings.top_k`` when None), best first.

        ``sources`` limits the search to those documents: names or glob patterns (``"reports/*.md"``).

        Example:
            >>> bot.retrieve("Mi:dm training data", k=2).to_frame()[["source", "score"]]  # doctest: +SKIP

        Raises:
            QuestionError: The question is empty, too long, or has nothing to search for.
        """
        text = validate_question(question, self.settings.max_question_chars)
        return self._retrieve(text, self._resolve_k(k), retrieval, sources=sources)

    def _resolve_k(self, k: int | None) -> int:
        k = self.settings.top_k if k is None else k
        if not 1 <= k <= 100:
            raise QuestionError(f"k must be between 1 and 100, got {k}")
        return k

    def _retrieve(
        self,
        text: str,
        k: int,
        retrieval: RetrievalMode | None,
        snapshot: _Snapshot | None = None,
        sources: Sequence[str] | None = None,
    ) -> Passages:
        snapshot = snapshot or self._latest_snapshot()
        scope = None
        if sources is not None:
            scope = resolve_sources(sources, sorted(snapshot.store.manifest.files))
        # Aliases ("MSFT", "inked") are searched with their usual form; a question in a script the model
        # does not read is searched by its keywords alone.
        searched = expand_aliases(text)
        vector = self.embedder.encode_one(searched)
        keywords_only = uncovered_script(text, self.settings.embedding_model) is not None
        passages = snapshot.retriever.retrieve(
            searched, vector, k, retrieval or self.settings.retrieval, scope, keywords_only=keywords_only
        )
        if passages.unknown_names:
            # A word the model reads as a name the passages hold ("Samsungs") is a variant, not an unknown.
            variants = names_matched_densely(passages.unknown_names, (p.text for p in passages), self.embedder.encode)
            passages.unknown_names = tuple(name for name in passages.unknown_names if name not in variants)
        return passages

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        retrieval: RetrievalMode | None = None,
        history: History | None = None,
        answerer: Answerer | None = None,
        sources: Sequence[str] | None = None,
    ) -> Answer:
        """Answer ``question`` from the documents, citing the passages used as ``[n]``.

        Args:
            question: The question, at most ``settings.max_question_chars`` characters.
            k: Passages to retrieve; ``settings.top_k`` when None.
            retrieval: ``"dense"`` or ``"hybrid"``; ``settings.retrieval`` when None.
            history: Earlier turns (``[{"role": "user", "content": ...}, ...]``); a follow-up question is
                rewritten into a standalone one before retrieval.
            answerer: Use this answerer instead of the bot's own for this question.
            sources: Answer only from these documents: names or glob patterns (``"*.md"``); all when None.

        Returns:
            An ``Answer``; ``answer.refused`` is True when the documents do not say. When an LLM backend
            fails, the extractive answer comes back instead, with ``backend="extractive"`` and a ``notice``.

        Raises:
            QuestionError: The question is empty, too long, or has nothing to search for, or a source
                matches no indexed document.

        Example:
            >>> answer = bot.ask("How many tokens was Mi:dm trained on?")
            >>> answer.refused
            False
        """
        final: Answer | None = None
        for item in self._answer(question, k, retrieval, history, answerer, streaming=False, sources=sources):
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
        sources: Sequence[str] | None = None,
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
        yield from self._answer(question, k, retrieval, history, answerer, streaming=True, sources=sources)

    def _answer(
        self,
        question: str,
        k: int | None,
        retrieval: RetrievalMode | None,
        history: History | None,
        answerer: Answerer | None,
        *,
        streaming: bool,
        sources: Sequence[str] | None = None,
    ) -> Iterator[str | Answer]:
        started = time.perf_counter()
        text = validate_question(question, self.settings.max_question_chars)
        k = self._resolve_k(k)  # before a follow-up rewrite can cost an LLM request
        answerer = answerer or self.answerer
        turns = normalize_history(history)
        notices: list[str] = []
        snapshot = self._latest_snapshot()
        standalone, passages = text, None
        if turns:
            standalone, passages, notice = self._follow_up(text, turns, answerer, k, retrieval, snapshot, sources)
            notices += [notice] if notice else []
        if passages is None:
            passages = self._retrieve(standalone, k, retrieval, snapshot, sources)
        script = uncovered_script(text, self.settings.embedding_model)
        if script is not None:
            model = self.settings.embedding_model.rsplit("/", 1)[-1]
            notices.append(
                f"This question is in {script}, which the embedding model ({model}) does not read: "
                "only keyword search could match it."
            )
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
        if standalone != text and not answer.refused:
            answer = self._refuse_if_follow_up_unanswered(text, turns, answer)
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

    def _follow_up(
        self,
        text: str,
        turns: list[tuple[str, str]],
        answerer: Answerer,
        k: int,
        retrieval: RetrievalMode | None,
        snapshot: _Snapshot,
        sources: Sequence[str] | None = None,
    ) -> tuple[str, Passages | None, str | None]:
        """The question to search for, its passages (None when not retrieved yet) and any notice.

        A question is rewritten when its words lean on the conversation, or when it finds nothing answerable
        on its own but its rewrite does; otherwise it stands alone, however short.
        """
        if looks_like_follow_up(text):
            standalone, notice = self._standalone(text, turns, answerer)
            return standalone, None, notice
        alone = self._retrieve(text, k, retrieval, snapshot, sources)
        if not self._extractive.answer(text, alone).refused:
            return text, alone, None
        standalone, notice = self._standalone(text, turns, answerer)
        rewritten = self._retrieve(standalone, k, retrieval, snapshot, sources)
        if standalone != text and not self._extractive.answer(standalone, rewritten).refused:
            return standalone, rewritten, notice
        return text, alone, None

    @staticmethod
    def _refuse_if_follow_up_unanswered(text: str, turns: list[tuple[str, str]], answer: Answer) -> Answer:
        """Refuse a rewritten follow-up whose answer speaks to none of the words it added.

        "and how do I unsubscribe?" rewritten with the subscribe question's words finds the subscribe
        passage again; quoting it would answer the previous question, not this one.
        """
        added = follow_up_terms(text, turns)
        if not added:
            return answer
        quoted = " ".join(
            c.text[start - c.start : end - c.start] for c in answer.citations for start, end in c.highlights
        ) or " ".join(c.text for c in answer.citations)
        if set(added) & set(tokenize(quoted)):
            return answer
        words = ", ".join(f"“{w}”" for w in dict.fromkeys(added.values()))
        notice = f"The passages found say nothing about {words}."
        return Answer(text, REFUSAL_TEXT, [], True, answer.backend, notice=notice, passages=answer.passages)

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

    def refresh(self, *, rebuild: bool = False, progress: bool | ProgressCallback = False) -> IndexReport:
        """Bring the index up to date with the docs folder (re-embedding only what changed).

        Questions asked meanwhile are answered from the previous index; the new one is swapped in whole.
        ``progress`` is a callback for ``IndexProgress`` events (or True for a bar on stderr).
        """
        with self._write_lock:
            store, report = sync_store(
                self.settings, self.embedder, rebuild=rebuild, current=self.store, progress=progress
            )
            self._snapshot = self._next_snapshot(store)
            self._kept = dict(report.kept)
        return report

    # --------------------------------------------------------------------------------- documents

    def list_documents(self) -> list[DocumentInfo]:
        """Every document of the docs folder and the index: type, size, pages, chunks, when indexed, status.

        Example:
            >>> [(d.name, d.status) for d in bot.list_documents()]  # doctest: +SKIP
            [('000_9e8dd42f31235db3.txt', 'indexed'), ('001_a4f8977f78a39ff4.txt', 'indexed')]
        """
        return list_documents(self.settings.docs_dir, self.store.manifest, kept=self._kept)

    def remove_documents(self, names: Sequence[str], *, progress: bool | ProgressCallback = False) -> IndexReport:
        """Delete documents from the docs folder and their chunks from the index, in one step.

        Once this returns, no answer cites them: dense search, BM25 and every cache work on the new index.

        Raises:
            DocumentError: A name is not a document of the corpus (nothing is removed then), or a file
                cannot be deleted.
        """
        names = [names] if isinstance(names, str) else list(names)
        known = {d.name for d in self.list_documents()}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise DocumentError(f"no document named {', '.join(map(repr, unknown))}; nothing was removed", unknown[0])
        with self._write_lock:
            for name in names:
                path = check_document_name(self.settings.docs_dir, name)
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise DocumentError(f"cannot delete {path}: {exc.strerror or exc}", path) from exc
                logger.info("removed %s from %s", name, self.settings.docs_dir)
            store, report = sync_store(self.settings, self.embedder, current=self.store, progress=progress)
            self._snapshot = self._next_snapshot(store)
            self._kept = dict(report.kept)
        return report

    def reindex_documents(self, names: Sequence[str], *, progress: bool | ProgressCallback = False) -> IndexReport:
        """Read, chunk and embed these documents again, even if unchanged (and bring the rest up to date).

        Raises:
            DocumentError: A name is not a document of the docs folder.
        """
        names = [names] if isinstance(names, str) else list(names)
        known = {d.name for d in self.list_documents() if d.size >= 0}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise DocumentError(f"no document named {', '.join(map(repr, unknown))} in the docs folder", unknown[0])
        with self._write_lock:
            store, report = sync_store(
                self.settings, self.embedder, current=self.store, reindex=names, progress=progress
            )
            self._snapshot = self._next_snapshot(store)
            self._kept = dict(report.kept)
        return report

    def _latest_snapshot(self) -> _Snapshot:
        """The current snapshot; for a shared index another process changed, a new one of its latest version."""
        snapshot = self._snapshot
        now = time.monotonic()
        if not isinstance(snapshot.store, SharedStore) or now - self._checked_at < SHARED_INDEX_CHECK_S:
            return snapshot
        self._checked_at = now
        if snapshot.store.is_current():
            return snapshot
        with self._write_lock:
            if self._snapshot is snapshot:
                logger.info("the shared index changed in another process; loading its latest version")
                self._snapshot = self._next_snapshot(snapshot.store.latest())
            return self._snapshot

    def _next_snapshot(self, store: Store) -> _Snapshot:
        """The snapshot of a refreshed ``store``; its BM25 is derived from the current one's, in the background."""
        if store is self._snapshot.store:
            return self._snapshot
        retriever = Retriever(store, previous=self._snapshot.retriever)
        retriever.warm_up()
        return _Snapshot(store, retriever)

    def add_documents(
        self,
        items: Sequence[Document | Path | str],
        *,
        overwrite: bool = False,
        progress: bool | ProgressCallback = False,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Copy documents into the docs folder and index them.

        Args:
            items: ``Document`` objects (e.g. ``Document.from_text("notes.md", text)``), or paths of
                documents (``.txt``, ``.md``, ``.rst``, ``.pdf``, ``.docx``, ``.html``) or of folders holding them.
            overwrite: Replace a document of the same name whose content differs.
            progress: A callback for ``IndexProgress`` events while embedding (or True for a bar on stderr).
            cancel: Set it from another thread to stop after the batch in progress: files already indexed
                stay, new files not reached are not added, and ``IndexCancelled`` says which is which.

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
        documents, options = self._collect(items), self.settings.read_options()
        docs_dir = self.settings.docs_dir
        for doc in documents:
            # Only the files these would replace are read: the rest of the folder can be large.
            target = docs_dir / doc.source
            try:
                old = load_document(target, doc.source, options=options) if target.is_file() else None
            except DocumentError:
                old = None  # an unreadable file of that name is not indexed: replacing it loses nothing
            if old is not None and old.sha256 != doc.sha256 and not overwrite:
                raise DocumentError(
                    f"a different document named {doc.source} is already indexed; rename it or pass overwrite=True",
                    docs_dir / doc.source,
                )
        with self._write_lock:
            new = {doc.source for doc in documents if not (docs_dir / doc.source).exists()}
            for doc in documents:
                target = docs_dir / doc.source
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".{target.name}.tmp")
                if doc.kind != "text" and doc.location:
                    shutil.copyfile(doc.location, temporary)  # a PDF is added as itself, not as its text
                else:
                    temporary.write_text(doc.text, encoding="utf-8")
                temporary.replace(target)
            try:
                store, report = sync_store(
                    self.settings, self.embedder, current=self.store, progress=progress, cancel=cancel
                )
            except IndexCancelled as exc:
                # What was committed stays and is searched; new files not reached are not added at all, so
                # that no later refresh (or folder watcher) indexes what the user cancelled.
                for name in set(exc.remaining) & new:
                    (docs_dir / name).unlink(missing_ok=True)
                if exc.store is not None:
                    self._snapshot = self._next_snapshot(exc.store)
                raise
            self._snapshot = self._next_snapshot(store)
            self._kept = dict(report.kept)
        return report

    def _collect(self, items: Sequence[Document | Path | str]) -> list[Document]:
        options = self.settings.read_options()  # the limits of the work one file may cost
        if isinstance(items, (str, Path, Document)):
            items = [items]
        documents: list[Document] = []
        for item in items:
            if isinstance(item, Document):
                documents.append(item)
                continue
            path = Path(item)
            if path.is_dir():
                documents.extend(load_documents(path, options))
            else:
                check_supported(path)
                documents.append(load_document(path, options=options))
        return documents

    # --------------------------------------------------------------------------------- LangChain

    @property
    def retriever(self) -> Any:
        """This bot's retrieval as a LangChain ``BaseRetriever``, for use in any LangChain chain."""
        from rag.bot.langchain import BotRetriever

        return BotRetriever(bot=self)
