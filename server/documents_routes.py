"""The documents REST routes: ``GET /api/documents`` lists them, ``DELETE /api/documents/{name}`` removes one.

``documents_router(bot, reader, editor)`` returns a router to include in the FastAPI app. ``reader`` and
``editor`` are FastAPI dependencies (the accounts module's ``require_role("reader")`` / ``("editor")``): the
listing needs the first, a removal the second. A removal deletes the file from the docs folder and its chunks
from the index in one step; once it returns, no answer cites that document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from rag import Bot
from rag.errors import RagError

__all__ = ["documents_router"]


def documents_router(bot: Bot, reader: Callable[..., Any], editor: Callable[..., Any]) -> APIRouter:
    """The ``/api/documents`` routes over ``bot``, guarded by the ``reader`` and ``editor`` dependencies."""
    router = APIRouter(prefix="/api", tags=["documents"])

    @router.get("/documents", summary="List the documents", dependencies=[Depends(reader)])
    def list_documents() -> list[dict[str, Any]]:
        """Every document: name, type, size, pages, chunks, indexed_at (ISO 8601), status and reason."""
        return [document.to_dict() for document in bot.list_documents()]

    @router.delete("/documents/{name:path}", summary="Remove a document")
    def remove_document(name: str, request: Request, user: Any = Depends(editor)) -> dict[str, Any]:  # noqa: B008
        """Delete the document's file and its chunks; 404 when there is no such document."""
        if name not in {document.name for document in bot.list_documents()}:
            raise HTTPException(status_code=404, detail=f"no document named {name!r}")
        try:
            report = bot.remove_documents([name])
        except RagError as exc:
            raise HTTPException(status_code=500, detail=str(exc)) from exc
        auth = getattr(request.app.state, "auth", None)  # the accounts app's; a bare app has none
        if auth is not None:
            who = getattr(user, "name", None)
            auth.audit.record(
                "documents_removed", user=who, source=request.client.host if request.client else "", files=[name]
            )
        return {"removed": [name], "summary": report.summary(), "documents": len(bot.documents)}

    return router
