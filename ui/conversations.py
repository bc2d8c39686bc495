"""The conversations sidebar: the user's saved chats, to search, reopen, continue, rename, delete or export.

Conversations are saved by the server (``ChatAccess.save_turn``) after every answer; this module lists
them, loads one back into the chat, and links to the server's Markdown and JSON exports
(``/api/conversations/{id}/export``), which check the owner again.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui.access import ChatAccess, Viewer
from ui.render import saved_evidence_html

__all__ = ["Sidebar", "add_sidebar", "export_links_html", "list_after_answer"]


@dataclass(frozen=True)
class Sidebar:
    """The sidebar's components, for ``ui.app`` to wire to the chat."""

    conversation: gr.State  # id of the conversation the chat is in (None: a new one)
    choices: gr.Radio
    new_chat: gr.Button
    exports: gr.HTML
    search: gr.Textbox
    manage: gr.Column  # rename and delete, shown while the chat is in a saved conversation
    title: gr.Textbox
    delete: gr.Button

    @property
    def after_answer(self) -> list[Any]:
        """What an answer's last update refreshes (``list_after_answer``): list, exports, rename box."""
        return [self.choices, self.exports, self.manage, self.title]


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
        search = gr.Textbox(
            placeholder="Search conversations…", show_label=False, elem_id="conversation-search", max_lines=1
        )
        choices = gr.Radio(
            choices=[], value=None, show_label=False, elem_id="conversations", type="value", visible=False
        )
        with gr.Column(visible=False, elem_id="conversation-manage") as manage:
            title = gr.Textbox(label="Title", elem_id="conversation-title", max_lines=1, submit_btn="Rename")
            delete = gr.Button("Delete conversation", elem_id="conversation-delete", size="sm", variant="stop")
        exports = gr.HTML(export_links_html(None), elem_id="conversation-exports")
    return Sidebar(conversation, choices, new_chat, exports, search, manage, title, delete)


def choices_update(access: ChatAccess, viewer: Viewer | None, current: str | None, query: str = "") -> dict[str, Any]:
    """The radio's new choices (the viewer's conversations whose title has ``query``) with ``current`` selected."""
    items = access.conversations(viewer) if viewer else []
    needle = " ".join((query or "").split()).casefold()
    shown = [c for c in items if needle in c.title.casefold()]
    ids = {c.id for c in shown}
    return gr.update(
        choices=[(c.title, c.id) for c in shown], value=current if current in ids else None, visible=bool(shown)
    )


def _manage_updates(access: ChatAccess, viewer: Viewer | None, current: str | None) -> tuple[Any, Any]:
    """Rename and delete: shown with the current conversation's title, hidden without one."""
    titles = {c.id: c.title for c in access.conversations(viewer)} if viewer and current else {}
    if current not in titles:
        return gr.update(visible=False), gr.update(value="")
    return gr.update(visible=True), gr.update(value=titles[current])


def wire_sidebar(
    access: ChatAccess, sidebar: Sidebar, chatbot: gr.Chatbot, evidence: gr.HTML, empty_evidence: str
) -> None:
    """Search the list; reopen a conversation on click; rename or delete it; start a new one; keep the exports."""
    managed = [sidebar.manage, sidebar.title]

    def reopen(conversation_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        viewer = access.viewer(request)
        turns = access.open_conversation(viewer, conversation_id) if viewer and conversation_id else None
        if turns is None:
            return [], None, export_links_html(None), empty_evidence, *_manage_updates(access, viewer, None)
        history: list[dict[str, Any]] = []
        for question, answer in turns:
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        # The evidence of the conversation's last answer, as the panel showed it when that answer came.
        evidence = saved_evidence_html(turns[-1][1]) if turns else None
        return (
            history,
            conversation_id,
            export_links_html(conversation_id),
            evidence or empty_evidence,
            *_manage_updates(access, viewer, conversation_id),
        )

    def rename(title: str, conversation_id: str | None, query: str, request: gr.Request) -> tuple[Any, ...]:
        viewer = access.viewer(request)
        if viewer and conversation_id and not access.rename_conversation(viewer, conversation_id, title):
            gr.Warning("A title needs at least one word.")
        return choices_update(access, viewer, conversation_id, query), *_manage_updates(access, viewer, conversation_id)

    def delete(conversation_id: str | None, query: str, confirmed: bool, request: gr.Request) -> tuple[Any, ...]:
        viewer = access.viewer(request)
        if not (confirmed and viewer and conversation_id and access.delete_conversation(viewer, conversation_id)):
            return (gr.skip(),) * 7  # cancelled in the confirmation, or not theirs: nothing changes
        return (
            [],
            None,
            export_links_html(None),
            empty_evidence,
            choices_update(access, viewer, None, query),
            *_manage_updates(access, viewer, None),
        )

    sidebar.choices.input(
        reopen,
        [sidebar.choices],
        [chatbot, sidebar.conversation, sidebar.exports, evidence, *managed],
        api_visibility="private",
    )
    sidebar.new_chat.click(
        lambda: ([], None, export_links_html(None), empty_evidence, gr.update(value=None), gr.update(visible=False)),
        None,
        [chatbot, sidebar.conversation, sidebar.exports, evidence, sidebar.choices, sidebar.manage],
        api_visibility="private",
    )

    def search(query: str, current: str | None, request: gr.Request) -> Any:
        return choices_update(access, access.viewer(request), current, query)

    sidebar.search.change(
        search,
        [sidebar.search, sidebar.conversation],
        sidebar.choices,
        api_visibility="private",
    )
    sidebar.title.submit(
        rename,
        [sidebar.title, sidebar.conversation, sidebar.search],
        [sidebar.choices, *managed],
        api_visibility="private",
    )
    # The browser's confirmation first. Its answer travels in a hidden checkbox: a State's value is the
    # server's own, so the page cannot blank it to cancel.
    confirmed = gr.Checkbox(value=False, visible=False)
    sidebar.delete.click(
        delete,
        [sidebar.conversation, sidebar.search, confirmed],
        [chatbot, sidebar.conversation, sidebar.exports, evidence, sidebar.choices, *managed],
        js="(c, q, _) => [c, q, confirm('Delete this conversation? This cannot be undone.')]",
        api_visibility="private",
    )


def list_after_answer(
    access: ChatAccess, viewer: Viewer | None, started_in: str | None, query: str
) -> Callable[[str | None, bool], tuple[Any, ...]]:
    """The sidebar's outputs (``Sidebar.after_answer``) to send with each update of an answer.

    They come in the answer's own last update, not in a step after it: a rename or a click in the list made
    just after an answer landed could be undone by a refresh that trailed it. The title box is set only
    for a conversation the answer began; a continued one's title is already shown, and may be being edited.
    """

    def outputs(conversation_id: str | None, last: bool) -> tuple[Any, ...]:
        if not last:
            return (gr.skip(),) * 4
        manage, title = _manage_updates(access, viewer, conversation_id)
        return (
            choices_update(access, viewer, conversation_id, query),
            export_links_html(conversation_id),
            manage,
            title if conversation_id != started_in else gr.skip(),
        )

    return outputs
