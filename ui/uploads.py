"""The chat's "Add documents": checks, indexing with progress, cancel, the audit trail, and Gradio's copies removed.

``Uploads(bot, access)`` holds the two handlers the page wires: ``upload(files, request, progress)`` indexes
what Gradio received, ``cancel(request)`` stops an indexing in progress. With ``access`` (the server) both
ask ``ChatAccess.editor_refusal`` first, the same check as removing documents, so a reader can neither add
documents nor cancel an editor's upload, however the request is made; every step is audited.

The audit trail of an upload starts before anything is indexed (``upload_started``, with who and which
files), so an upload interrupted by a crash or ``kill -9`` still says who added the files it left in the docs
folder; its end is ``upload``, ``upload_cancelled`` or ``upload_failed``.

Gradio keeps each uploaded file in its upload folder; once the handler is done with them they are deleted
(they are copied into ``<docs>/uploads/`` when added). Only files that this browser session uploaded are
accepted (``ChatAccess.sent``; on the single-user page, any file in that folder): a request naming any other
path (the users file, an index, another user's upload) is refused, beside Gradio's own check.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from pathlib import Path
from typing import Any

import gradio as gr

import rag
from rag import Bot
from rag.indexing.faiss import IndexCancelled
from rag.indexing.progress import IndexProgress
from rag.ingest.documents import MAX_DOCUMENT_BYTES, check_supported, load_document
from ui.access import ChatAccess

__all__ = ["MAX_UPLOAD_FILES", "MAX_UPLOAD_TOTAL_BYTES", "UPLOADS", "Uploads", "with_progress"]

logger = logging.getLogger("rag.ui")

UPLOADS = "uploads"  # sub-folder of the docs folder where uploaded files are kept
MAX_UPLOAD_FILES = 20  # files per upload; each is also capped at MAX_DOCUMENT_BYTES by Gradio and the loader
MAX_UPLOAD_TOTAL_BYTES = 50 * 1024 * 1024  # all files of one upload together


def upload_folder() -> Path:
    """Where Gradio keeps received files (``GRADIO_TEMP_DIR``, else its folder in the system's temp)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


def _inside(path: Path, folders: list[Path]) -> Path | None:
    """The folder of ``folders`` that holds ``path`` (not the folder itself), or None."""
    return next((f for f in folders if path.is_relative_to(f) and path != f), None)


def _remove_received(files: list[str], folders: list[Path]) -> None:
    """Delete Gradio's copies of an upload (and the random folder each sits in), never anything outside."""
    for name in files:
        path = Path(name).resolve()
        folder = _inside(path, folders)
        if folder is None:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            if path.parent != folder:
                path.parent.rmdir()  # only when empty


class Uploads:
    """The upload and cancel handlers of one page (uploads run one at a time: one cancel flag suffices)."""

    def __init__(self, bot: Bot, access: ChatAccess | None) -> None:
        self.bot = bot
        self.access = access
        self._cancel = threading.Event()
        # Where the file input's own cache is, when it is not the upload folder (Gradio fixes it when the
        # component is made; GRADIO_TEMP_DIR set later moves only the upload folder): ui.app sets it.
        self.component_cache: Path | None = None

    def folders(self) -> list[Path]:
        """The folders Gradio keeps received files in."""
        cache = [self.component_cache.resolve()] if self.component_cache else []
        return [upload_folder(), *cache]

    def cancel(self, request: gr.Request) -> None:
        """Stop the indexing in progress after its current batch (editors only; audited either way)."""
        if self.access is not None:
            if self.access.editor_refusal(request, "upload_cancel") is not None:
                return
            self.access.record(request, "upload_cancel")
        self._cancel.set()

    def upload(
        self,
        files: list[str] | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, None]:
        """Index the received files (all or nothing); returns the status line and clears the file input."""
        if not files:
            return "", None
        mine = self._sent_here(request, files)
        try:
            return self._upload(files, request, progress, mine), None
        finally:
            if mine:  # never another session's files, whatever a request names
                _remove_received(files, self.folders())

    def _sent_here(self, request: gr.Request, files: list[str]) -> bool:
        folders = self.folders()
        inside = all(_inside(Path(f).resolve(), folders) for f in files)
        return inside and (self.access is None or self.access.sent(request, files))

    def _upload(self, files: list[str], request: gr.Request, progress: gr.Progress, mine: bool) -> str:
        names = [Path(f).name for f in files]
        access = self.access
        refusal = access.editor_refusal(request, "upload", files=names) if access else None
        if refusal:  # the page hides the control from readers; a crafted request is refused all the same
            return f"**Nothing was added.** {refusal}"
        if not mine:
            logger.warning("refused an upload naming files this session did not send: %r", files)
            if access:
                access.record(request, "upload_refused", files=names, reason="not sent by this session")
            return "**Nothing was added.** Only files you sent to this page can be added."
        if len(files) > MAX_UPLOAD_FILES:
            return f"**Nothing was added.** {len(files)} files at once; the limit is {MAX_UPLOAD_FILES}."
        total = sum(Path(f).stat().st_size for f in files)
        if total > MAX_UPLOAD_TOTAL_BYTES:
            limit_mb = MAX_UPLOAD_TOTAL_BYTES // 2**20
            return f"**Nothing was added.** {total / 2**20:.1f} MB at once; the limit is {limit_mb} MB."
        documents = []
        problems = []
        for path in map(Path, files):
            name = path.name  # Gradio keeps the original name, inside a random temporary folder
            try:
                check_supported(path)
                options = self.bot.settings.read_options()  # the limits of the work one file may cost
                documents.append(load_document(path, f"{UPLOADS}/{name}", MAX_DOCUMENT_BYTES, options=options))
            except rag.DocumentError as exc:
                problems.append(str(exc).replace(str(path), name))
        if problems:
            # All or nothing: one bad file leaves the index unchanged, so the user knows exactly what is in it.
            return "**Nothing was added.** " + " ".join(problems)
        sources = [d.source for d in documents]
        if access:
            access.record(request, "upload_started", files=sources)  # before a file lands in the docs folder
        progress(0.0, desc=f"Indexing {len(documents)} file(s)")
        self._cancel.clear()
        try:
            report = with_progress(
                lambda callback: self.bot.add_documents(
                    documents, overwrite=True, progress=callback, cancel=self._cancel
                ),
                progress,
            )
        except IndexCancelled as exc:
            if access:
                access.record(request, "upload_cancelled", files=list(exc.committed), not_added=list(exc.remaining))
            kept = ", ".join(exc.committed) or "none"
            return f"**Indexing cancelled.** Indexed and kept: {kept}. Not added: {', '.join(exc.remaining)}."
        except rag.RagError as exc:
            if access:
                access.record(request, "upload_failed", files=sources, reason=str(exc))
            return f"**Nothing was added.** {exc}"
        progress(1.0)
        if access:
            access.record(request, "upload", files=sources)
        listed = ", ".join(sources)
        return f"Added {listed}: {report.embedded_chunks} passage(s) indexed. Ask about {listed} now."


def with_progress(job: Any, progress: gr.Progress) -> Any:
    """Run ``job(callback)`` in a thread and show its ``IndexProgress`` events as Gradio progress.

    Gradio's progress is reported from the event's own thread, so events cross over through a queue; the
    bar moves at least twice a second (``rag.indexing.progress.TICK_S``) while the job runs.
    """
    events: queue.Queue[IndexProgress] = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = job(events.put)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="rag-upload-index", daemon=True)
    worker.start()
    while worker.is_alive() or not events.empty():
        try:
            event = events.get(timeout=0.25)
        except queue.Empty:
            continue
        progress(event.fraction, desc=f"Indexing: {event.describe()}")
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
