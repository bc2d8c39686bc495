"""The documents REST routes of a collection: list, read, see a page, remove.

- ``GET /api/documents?collection=NAME``: every document of the collection (``default`` when omitted);
- ``GET /api/documents/{name}/text?collection=NAME``: a document's extracted text (what citations point into);
- ``GET /api/documents/{name}/pages/{page}?collection=NAME``: a PDF page as a PNG;
- ``DELETE /api/documents/{name}?collection=NAME``: delete the file and its chunks in one step; once it
  returns, no answer cites that document.

``documents_router(opener, reader, editor)`` returns a router to include in the FastAPI app. ``reader`` and
``editor`` are FastAPI dependencies (the accounts module's ``require_role("reader")`` / ``("editor")``), and
``opener(request, user, collection)`` is the server's one collection check (``ServerState.open_collection``):
it returns the collection's bot or raises a 404 for a collection the user may not read, exactly as for one
that does not exist. An editor therefore edits only the collections they can read. A plain ``Bot`` in place
of ``opener`` serves that bot as ``default`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse

from rag import Bot
from rag.answer.types import Citation
from rag.bot.registry import DEFAULT, shown
from rag.errors import RagError
from rag.indexing.texts import stored_pages

__all__ = ["Opener", "documents_router"]

# (request, the reader dependency's user, collection name) -> the collection's bot; raises for a refusal.
Opener = Callable[[Request, Any, str], Bot]
_COLLECTION = Query(DEFAULT, max_length=200, description="The collection (GET /api/collections lists yours).")


def _lone(bot: Bot) -> Opener:
    def opener(request: Request, user: Any, collection: str) -> Bot:
        if collection != DEFAULT:
            raise HTTPException(status_code=404, detail=f"no collection named {shown(collection)!r}")
        return bot

    return opener


def documents_router(opener: Opener | Bot, reader: Callable[..., Any], editor: Callable[..., Any]) -> APIRouter:
    """The ``/api/documents`` routes, guarded by the ``reader`` and ``editor`` dependencies and ``opener``."""
    router = APIRouter(prefix="/api", tags=["documents"])
    open_bot: Opener = _lone(opener) if isinstance(opener, Bot) else opener
    reading, editing = Depends(reader), Depends(editor)

    def indexed(bot: Bot, name: str) -> None:
        # The index's own list, never the file system: "../users.json" or "/etc/passwd" is simply not in it.
        if name not in bot.store.manifest.files:
            raise HTTPException(status_code=404, detail=f"no document named {shown(name)!r}")

    @router.get("/documents", summary="List the documents of a collection")
    def list_documents(request: Request, collection: str = _COLLECTION, user: Any = reading) -> list[dict[str, Any]]:
        """Every document: name, type, size, pages, chunks, indexed_at (ISO 8601), status and reason."""
        return [document.to_dict() for document in open_bot(request, user, collection).list_documents()]

    @router.get("/documents/{name:path}/text", summary="A document's extracted text", response_class=PlainTextResponse)
    def document_text(
        name: str,
        request: Request,
        collection: str = _COLLECTION,
        user: Any = reading,
    ) -> PlainTextResponse:
        """The text citations' `start`/`end` point into; 404 for a document not indexed in the collection."""
        bot = open_bot(request, user, collection)
        indexed(bot, name)
        try:
            return PlainTextResponse(bot.document_text(name))
        except RagError:
            raise HTTPException(status_code=404, detail=f"no document named {shown(name)!r}") from None

    @router.get("/documents/{name:path}/pages/{page}", summary="A PDF page as a PNG image")
    def page_image(
        name: str,
        page: int,
        request: Request,
        collection: str = _COLLECTION,
        user: Any = reading,
    ) -> Response:
        """Page `page` (1-based) of an indexed PDF of the collection; 404 for any other document or page."""
        from ui.pages import page_image_png

        bot = open_bot(request, user, collection)
        indexed(bot, name)
        try:  # (the Postgres backend keeps no page spans: its PDFs have no page images, here as in the chat)
            spans = {p.number: p for p in stored_pages(bot.settings, bot.store.manifest, name)}
        except RagError:
            spans = {}
        if page not in spans:
            raise HTTPException(status_code=404, detail=f"no page {page} in {shown(name)!r}")
        start = spans[page].start
        try:
            png = page_image_png(bot, Citation(0, name, start, start, "", 0.0, page=page))
        except (RagError, OSError) as exc:
            raise HTTPException(status_code=500, detail=f"cannot render page {page}: {exc}") from None
        if png is None:
            raise HTTPException(status_code=404, detail=f"no page {page} in {shown(name)!r}")
        return Response(png, media_type="image/png")

    @router.delete("/documents/{name:path}", summary="Remove a document")
    def remove_document(
        name: str,
        request: Request,
        collection: str = _COLLECTION,
        user: Any = editing,
    ) -> dict[str, Any]:
        """Delete the document's file and its chunks; 404 when there is no such document."""
        bot = open_bot(request, user, collection)
        if name not in {document.name for document in bot.list_documents()}:
            raise HTTPException(status_code=404, detail=f"no document named {shown(name)!r}")
        try:
            report = bot.remove_documents([name])
        except RagError as exc:
            raise HTTPException(status_code=500, detail=str(exc)) from exc
        auth = getattr(request.app.state, "auth", None)  # the accounts app's; a bare app has none
        if auth is not None:
            who = getattr(user, "name", None)
            auth.audit.record(
                "documents_removed",
                user=who,
                source=request.client.host if request.client else "",
                files=[name],
                collection=collection,
            )
        return {"removed": [name], "summary": report.summary(), "documents": len(bot.documents)}

    return router
