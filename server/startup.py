"""The checks every way of serving the chat runs before it loads anything: exposure first, then the state files.

``check_serving`` is called by ``rag serve`` (the CLI, before any model loads, and ``server.app.serve``),
by ``rag serve --workers`` and ``python -m server.workers`` (for HAProxy's address); Gradio's own launcher
(``ui.app.launch``) runs the same exposure check, ``ui.exposure``. So none of them serves a network address
without accounts unless told ``--no-auth``, and none starts over a users file or database it cannot read:
that is exit 2 with the file's name, never a silent start with an empty state. Imports nothing heavy, so a
refusal comes at once.
"""

from __future__ import annotations

from pathlib import Path

from rag.config import Settings
from server.db import check_database
from server.paths import data_paths
from ui.exposure import check_exposure

__all__ = ["check_serving", "check_state"]


def check_state(settings: Settings, auth_on: bool) -> None:
    """Read the users file (auth on) and check the server's database, as the server will use them.

    Raises:
        StateUnavailable: One of them is damaged or unreadable (a ``ConfigError``: exit 2), naming it.
    """
    from server.users import UserStore

    users_file = settings.users_file if auth_on else None
    if users_file is not None:
        UserStore(users_file).users()
    check_database(data_paths(users_file, settings.index_dir)[0])


def check_serving(host: str, settings: Settings | None, *, no_auth: bool, users_file: Path | None = None) -> bool:
    """Whether auth is on; raises ``ConfigError`` when serving ``host`` must not start.

    ``settings`` None: the caller has no accounts and no state of its own (``ui.app.launch``). ``users_file``
    overrides the settings' (the workers' launcher reads it from their flags).

    Raises:
        ConfigError: A network address without accounts (see ``ui.exposure``), or damaged state files.
    """
    if settings is None:
        return check_exposure(host, None, no_auth=no_auth)
    auth_on = check_exposure(host, users_file or settings.users_file, no_auth=no_auth)
    check_state(settings, auth_on)
    return auth_on
