"""The admins' "Users" panel: list accounts, add one, remove one.

Shown only to admins (the page's load event makes it visible); every action goes through
``ChatAccess``, which checks the admin role again on the server and writes the audit log.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from ui.access import ChatAccess

__all__ = ["AdminPanel", "add_admin_panel", "users_table_html"]

ROLE_CHOICES = ["reader", "editor", "admin"]


@dataclass(frozen=True)
class AdminPanel:
    """The panel's outer accordion (hidden unless the viewer is an admin) and its users table."""

    accordion: gr.Accordion
    table: gr.HTML


def users_table_html(rows: list[tuple[str, str, bool]]) -> str:
    """Accounts as an HTML table (names escaped)."""
    if not rows:
        return "<p>No accounts.</p>"
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(role)}</td><td>{'yes' if token else '-'}</td></tr>"
        for name, role, token in rows
    )
    return f'<table class="rag-users"><tr><th>user</th><th>role</th><th>API token</th></tr>{body}</table>'


def add_admin_panel(access: ChatAccess) -> AdminPanel:
    """Build the panel inside the current Blocks, hidden until the load event shows it to an admin."""
    with gr.Accordion("Users (admins)", open=False, visible=False, elem_id="admin-users") as accordion:
        table = gr.HTML("", elem_id="users-table")
        with gr.Row():
            name = gr.Textbox(label="User name", elem_id="new-user-name", scale=2)
            role = gr.Dropdown(ROLE_CHOICES, value="reader", label="Role", scale=1)
        password = gr.Textbox(label="Password (8+ characters)", type="password", elem_id="new-user-password")
        with gr.Row():
            add = gr.Button("Add user", elem_id="add-user", size="sm")
            remove = gr.Button("Remove user", elem_id="remove-user", size="sm", variant="stop")
        status = gr.Markdown(elem_id="admin-status")

    def do_add(user_name: str, user_role: str, user_password: str, request: gr.Request) -> tuple[str, str, str]:
        message = access.add_user(access.viewer(request), user_name.strip(), user_role, user_password, request)
        return message, users_table_html(access.list_users(access.viewer(request))), ""

    def do_remove(user_name: str, request: gr.Request) -> tuple[str, str]:
        message = access.remove_user(access.viewer(request), user_name.strip(), request)
        return message, users_table_html(access.list_users(access.viewer(request)))

    add.click(do_add, [name, role, password], [status, table, password], api_visibility="private")
    remove.click(do_remove, [name], [status, table], api_visibility="private")
    return AdminPanel(accordion, table)
