"""Whether the chat may be served on an address: never open to a network without accounts unless told so.

The one exposure check of every way of serving the chat: ``rag serve`` and its workers (``server.startup``)
and Gradio's own launcher (``ui.app.launch``). It lives with the chat, the lowest of the doors, so that each of
them can import it. Kept free of heavy imports, so a refused start exits at once, before any model or web
framework loads.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from rag.errors import ConfigError

__all__ = ["check_exposure", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_exposure(host: str, users_file: Path | None, *, no_auth: bool) -> bool:
    """Decide whether the server runs with auth; raise ``ConfigError`` when it must not start at all.

    ``users_file`` None means the caller has no accounts at all (Gradio's own launcher). Returns True when
    auth is on (the users file exists and ``no_auth`` is not set).

    Raises:
        ConfigError: ``host`` is not a loopback address, there is no users file, and ``no_auth`` is unset.
    """
    if no_auth:
        return False
    if users_file is not None and users_file.is_file():
        return True
    if not is_loopback(host):
        if users_file is None:
            raise ConfigError(
                f"refusing to serve on {host} without accounts: this launcher has none. Serve it to a network "
                f"with `rag serve --host {host}`, which signs users in."
            )
        raise ConfigError(
            f"refusing to serve on {host} without accounts: anyone who can reach the port could read and add "
            f"documents. Add a user first:\n"
            f"    rag users add NAME --role admin --users {users_file}\n"
            f"then run `rag serve --host {host}` again (auth is on whenever {users_file} exists). "
            f"To serve it open on purpose, pass --no-auth."
        )
    return False
