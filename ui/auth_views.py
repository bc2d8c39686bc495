"""The signed-in user's bar at the top of the chat: who is signed in, with which role, and a sign-out button.

Sign-out is a form that POSTs to the server's ``/logout`` (a GET link could be triggered by any page).
"""

from __future__ import annotations

import html

import gradio as gr

from ui.access import Viewer

__all__ = ["account_bar_html"]

ROLE_HINTS = {
    "reader": "can ask",
    "editor": "can ask and add documents",
    "admin": "can ask, add documents and manage users",
}


def account_bar_html(viewer: Viewer | None) -> str:
    """The bar's HTML for ``viewer`` (empty when accounts are off)."""
    if viewer is None or not viewer.signed_in:
        return ""
    name = html.escape(viewer.name)
    role = html.escape(viewer.role)
    hint = html.escape(ROLE_HINTS.get(viewer.role, ""))
    return (
        '<div class="rag-account">'
        f'<span>Signed in as <strong id="signed-in-user">{name}</strong> '
        f'<span class="rag-role" title="{hint}">({role})</span></span>'
        '<form method="post" action="/logout" class="rag-signout">'
        '<button type="submit" id="sign-out">Sign out</button></form></div>'
    )


ACCOUNT_CSS = """
.rag-account { display: flex; gap: 12px; align-items: center; justify-content: flex-end; font-size: 0.9em; }
.rag-account form { margin: 0; }
.rag-account button { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 2px 10px;
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); cursor: pointer; }
.rag-role { color: var(--body-text-color-subdued); }
"""


def account_bar() -> gr.HTML:
    """An empty bar, filled in by the page's load event."""
    return gr.HTML("", elem_id="account-bar")
