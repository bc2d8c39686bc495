"""The conversations sidebar: the user's saved chats, to reopen, continue, start anew or export.

Conversations are saved by the server (``ChatAccess.save_turn``) after every answer; this module lists
them, loads one back into the chat, and links to the server's Markdown and JSON exports
(``/api/conversations/{id}/export``), which check the owner again.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui.access import ChatAccess, Viewer
from ui.render import saved_evidence_html

__all__ = ["Sidebar", "add_sidebar", "export_links_html"]


@dataclass(frozen=True)
class Sidebar:
    """The sidebar's components, for ``ui.app`` to wire to the chat."""

    conversation: gr.State  # id of the conversation the chat is in (None: a new one)
    choices: gr.Radio
    new_chat: gr.Button
    exports: gr.HTML


def export_links_html(conversation_id: str | None) -> str:
    """Download links for the current conversation (nothing before its first answer)."""
    if not conversation_id:  # nothing to export yet; a hint here sat under a full list of conversations
        return ""
    base = f"/api/conversations/{html.escape(conversation_id)}/export"
    return (
        '<p class="rag-exports">Export: '
        f'<a id="export-markdown" href="{base}?format=markdown" download>Markdown</a> · '
        f'<a id="export-json" href="{base}?format=json" download>JSON</a></p>'
    )


def add_sidebar() -> Sidebar:
    """Build the sidebar inside the current Blocks (filled in by ``refresh``)."""
    conversation = gr.State(None)
    with gr.Sidebar(label="Conversations", open=True, elem_id="conversations-sidebar"):
        gr.Markdown("### Conversations")
        new_chat = gr.Button("New chat", elem_id="new-chat", size="sm", variant="primary")
        choices = gr.Radio(
            choices=[], value=None, show_label=False, elem_id="conversations", type="value", visible=False
        )
        exports = gr.HTML(export_links_html(None), elem_id="conversation-exports")
    return Sidebar(conversation, choices, new_chat, exports)


def choices_update(access: ChatAccess, viewer: Viewer | None, current: str | None) -> dict[str, Any]:
    """The radio's new choices (the viewer's conversations) with ``current`` selected."""
    items = access.conversations(viewer) if viewer else []
    ids = {c.id for c in items}
    return gr.update(
        choices=[(c.title, c.id) for c in items], value=current if current in ids else None, visible=bool(items)
    )


def wire_sidebar(
    access: ChatAccess, sidebar: Sidebar, chatbot: gr.Chatbot, evidence: gr.HTML, empty_evidence: str
) -> None:
    """Reopen a conversation on click; start a new one; keep the export links on the current one."""

    def reopen(conversation_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        viewer = access.viewer(request)
        turns = access.open_conversation(viewer, conversation_id) if viewer and conversation_id else None
        if turns is None:
            return [], None, export_links_html(None), empty_evidence
        history: list[dict[str, Any]] = []
        for question, answer in turns:
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        # The evidence of the conversation's last answer, as the panel showed it when that answer came.
        evidence = saved_evidence_html(turns[-1][1]) if turns else None
        return history, conversation_id, export_links_html(conversation_id), evidence or empty_evidence

    sidebar.choices.input(
        reopen,
        [sidebar.choices],
        [chatbot, sidebar.conversation, sidebar.exports, evidence],
        api_visibility="private",
    )
    sidebar.new_chat.click(
        lambda: ([], None, export_links_html(None), empty_evidence, gr.update(value=None)),
        None,
        [chatbot, sidebar.conversation, sidebar.exports, evidence, sidebar.choices],
        api_visibility="private",
    )


def after_answer(access: ChatAccess, sidebar: Sidebar) -> tuple[Any, list[Any], list[Any]]:
    """The ``.then`` step after a question: refresh the list and the export links."""

    def refresh(conversation_id: str | None, request: gr.Request) -> tuple[Any, str]:
        return choices_update(access, access.viewer(request), conversation_id), export_links_html(conversation_id)

    return refresh, [sidebar.conversation], [sidebar.choices, sidebar.exports]
