"""Small JSON state files written atomically: the users file and the collections registry.

A reader (another process, a server re-reading on change) sees the old file or the new one, never half of
one: the data goes to a temporary file in the same folder, is fsynced, then renamed over the old file. The
file is private (0600): these files hold password hashes and who may read what.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomically"]


def write_json_atomically(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` (mode 0600), all at once; the folder is made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
