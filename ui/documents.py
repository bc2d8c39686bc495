"""The chat's Documents view and document picker: see, search, remove and re-index documents; scope questions.

``document_picker(bot)`` adds a multi-select of document names that the chat passes to ``Bot.stream`` as
``sources``, so a question is answered from the chosen documents only. ``documents_view(bot, can_edit=...)``
adds a panel with a search box and a table (name, type, size, pages, chunks, indexed, status), and, when
``can_edit`` is True (with accounts: editors), buttons that remove documents (file and chunks, in one step) or
embed them again. Both must be called inside the page's ``gr.Blocks``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

import rag
from rag import Bot
from rag.indexing.catalog import DocumentInfo, format_size

__all__ = ["COLUMNS", "DocumentsView", "document_picker", "documents_view", "header_markdown"]

COLUMNS = ["Name", "Type", "Size", "Pages", "Chunks", "Indexed", "Status"]


def header_markdown(bot: Bot) -> str:
    """The page header: what the chat does, and how many documents it answers from (never every name)."""
    documents = bot.list_documents()
    indexed = sum(d.status == "indexed" for d in documents)
    waiting = len(documents) - indexed
    extra = f" ({waiting} pending or skipped)" if waiting else ""
    return (
        "## Ask the documents\nAnswers quote the documents and cite each passage as [n]; "
        "click a number to see the passage. "
        f"Answering from **{indexed} document{'s' if indexed != 1 else ''}**{extra}: see Documents."
    )


def document_picker(bot: Bot, *, empty: bool = False) -> gr.Dropdown:
    """A multi-select of indexed documents; empty means all. Its value is the ``sources`` of a question.

    ``empty``: built without choices, for the page to fill per viewer once it knows who may see them.
    """
    return gr.Dropdown(
        choices=[] if empty else bot.documents,
        value=[],
        multiselect=True,
        label="Ask only about (empty: all documents)",
        elem_id="doc-picker",
        allow_custom_value=True,  # a document removed meanwhile gets a clear error, not a rejected form
    )


def _rows(documents: list[DocumentInfo], query: str = "") -> list[list[Any]]:
    needle = query.strip().lower()
    rows = []
    for d in documents:
        if needle and needle not in f"{d.name} {d.type} {d.status} {d.reason}".lower():
            continue
        indexed = time.strftime("%Y-%m-%d %H:%M", time.localtime(d.indexed_at)) if d.indexed_at else ""
        status = d.status + (f": {d.reason}" if d.reason else "")
        rows.append([d.name, d.type, format_size(d.size), d.pages or "", d.chunks, indexed, status])
    return rows


@dataclass(frozen=True)
class DocumentsView:
    """The components of the Documents view, for wiring other events to it (e.g. refresh after an upload)."""

    search: gr.Textbox
    table: gr.Dataframe
    status: gr.Markdown
    refresh: gr.Button
    editor: gr.Column | None = None  # the remove and re-index controls (None without ``can_edit``)
    # ``relist(query, request)`` gives ``outputs`` their present values for the viewer (rows, the "Documents (n)"
    # label, the pickers): run on page load and after an upload, so the list never shows an older count than the header.
    relist: Callable[..., tuple[Any, ...]] | None = None
    outputs: tuple[Any, ...] = ()


def documents_view(
    bot: Bot,
    *,
    can_edit: bool,
    picker: gr.Dropdown | None = None,
    editor_check: Callable[[gr.Request, str, list[str]], str | None] | None = None,
    visible_to: Callable[[gr.Request], bool] | None = None,
) -> DocumentsView:
    """Add the Documents panel; with ``can_edit``, also the remove and re-index controls.

    ``picker``, when given, gets its choices updated whenever documents are removed or re-listed.
    ``editor_check`` (with accounts) is asked before every remove or re-index with the request, the action
    and the names: it returns why the user may not (the change is refused), or None. The controls then start
    hidden, for the page to show them to editors once it knows who is signed in.

    ``visible_to`` (with accounts) says whether a request's user may see these documents at all (they are
    ``default``'s, which may be restricted): the panel is then built empty, nothing of it is in the page's
    configuration, and every listing asks first; the page fills it on load with ``relist``.
    """

    def may_see(request: gr.Request | None) -> bool:
        return visible_to is None or (request is not None and visible_to(request))

    def documents(request: gr.Request | None) -> list[DocumentInfo]:
        return bot.list_documents() if may_see(request) else []

    initial = bot.list_documents() if visible_to is None else []
    with gr.Accordion(
        f"Documents ({len(bot.documents) if visible_to is None else 0})", open=False, elem_id="documents"
    ) as panel:
        search = gr.Textbox(
            placeholder="Search documents by name, type or status…", show_label=False, elem_id="doc-search"
        )
        table = gr.Dataframe(
            value=_rows(initial),
            headers=COLUMNS,
            interactive=False,
            elem_id="doc-table",
            wrap=True,
        )
        status = gr.Markdown(elem_id="doc-status")
        refresh = gr.Button("Refresh list", size="sm", elem_id="doc-refresh")
        chosen = None
        editor = None
        if can_edit:
            with gr.Column(visible=editor_check is None) as editor:
                with gr.Row():
                    chosen = gr.Dropdown(
                        choices=[d.name for d in initial],
                        multiselect=True,
                        label="Documents to remove or re-index",
                        elem_id="doc-chosen",
                    )
                with gr.Row():
                    remove = gr.Button("Remove", variant="stop", size="sm", elem_id="doc-remove")
                    reindex = gr.Button("Re-index", size="sm", elem_id="doc-reindex")

    def relist(query: str | None, request: gr.Request) -> tuple[Any, ...]:
        listed = documents(request)
        names = [d.name for d in listed]
        indexed = bot.documents if may_see(request) else []
        updates: list[Any] = [_rows(listed, query or ""), gr.Accordion(label=f"Documents ({len(indexed)})")]
        if chosen is not None:
            updates.append(gr.Dropdown(choices=names, value=[]))
        if picker is not None:
            updates.append(gr.Dropdown(choices=indexed, value=[]))
        return tuple(updates)

    def search_rows(query: str, request: gr.Request) -> list[list[Any]]:
        return _rows(documents(request), query)

    outputs: list[Any] = [table, panel]
    if chosen is not None:
        outputs.append(chosen)
    if picker is not None:
        outputs.append(picker)

    search.change(search_rows, search, table, api_visibility="private")
    refresh.click(relist, search, outputs, api_visibility="private")

    if chosen is not None:

        def change(action: str, names: list[str] | None, query: str, request: gr.Request) -> tuple[Any, ...]:
            if not names:
                return ("Choose one or more documents first.", *relist(query, request))
            refusal = editor_check(request, action, names) if editor_check is not None else None
            if refusal:  # the page hides the controls from readers; a crafted request is refused all the same
                return (f"**Nothing was changed.** {refusal}", *relist(query, request))
            try:
                if action == "remove":
                    report = bot.remove_documents(names)
                    message = f"Removed {', '.join(names)}: they are no longer searched or cited."
                else:
                    report = bot.reindex_documents(names)
                    message = f"Re-indexed {', '.join(names)}: {report.embedded_chunks} passage(s) embedded."
            except rag.RagError as exc:
                message = f"**Nothing was changed.** {exc}"
            return (message, *relist(query, request))

        def remove_chosen(names: list[str] | None, query: str, request: gr.Request) -> tuple[Any, ...]:
            return change("remove", names, query, request)

        def reindex_chosen(names: list[str] | None, query: str, request: gr.Request) -> tuple[Any, ...]:
            return change("reindex", names, query, request)

        remove.click(
            remove_chosen,
            [chosen, search],
            [status, *outputs],
            concurrency_limit=1,
            api_visibility="private",
        )
        reindex.click(
            reindex_chosen,
            [chosen, search],
            [status, *outputs],
            concurrency_limit=1,
            api_visibility="private",
        )
    return DocumentsView(search, table, status, refresh, editor, relist, tuple(outputs))
