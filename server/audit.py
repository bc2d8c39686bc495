"""The audit log: one JSON object per line, appended, never rewritten.

Each line says who did what, when and from where: ``{"ts": "...Z", "event": "login", "user": "alice",
"from": "127.0.0.1", ...}``. Logged: logins, failed and throttled logins, sign-outs, uploads, document
removals and every change to accounts. The log line each event also gets (logger ``rag.audit``) escapes
control characters, so no field can forge a line. It never holds a password or a token: ``record`` refuses detail
fields whose names say they are secret, so a careless caller fails loudly instead of leaking one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["AuditLog", "printable"]

logger = logging.getLogger("rag.audit")

_SECRET_WORDS = ("password", "token", "secret", "cookie", "authorization")
# Control characters (line breaks above all) and Unicode line separators: escaped in log lines, so a user name
# typed into the login form cannot start a line of its own that reads like another event.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def printable(value: object) -> str:
    r"""``value`` for one log line: control characters as ``\xNN`` escapes."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


class AuditLog:
    """Appends audit events to a JSON-lines file (created 0600). Safe across threads and processes.

    Every event is one ``write`` to a file opened with ``O_APPEND``, so lines from several server processes
    never interleave.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, event: str, *, user: str | None, source: str | None, **details: Any) -> None:
        """Append one event: what happened, to or by whom, from which address (or ``"cli"``)."""
        for key in details:
            if any(word in key.lower() for word in _SECRET_WORDS):
                raise ValueError(f"audit events never carry secrets; drop the field {key!r}")
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z",
            "event": event,
            "user": user,
            "from": source,
            **details,
        }
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        logger.info("audit: %s user=%s from=%s", event, printable(user), printable(source))

    def events(self) -> list[dict[str, Any]]:
        """Every event so far, oldest first (for tests and the admin)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
