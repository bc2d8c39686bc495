"""Print the packages whose installed version differs from the lock: what moved upstream since ``make lock``.

Run by ``make test-latest`` inside its throwaway virtualenv: ``python scripts/moved.py LOCK [LOCK ...]``.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(paths: list[str]) -> dict[str, str]:
    """Name -> pinned version of every ``name==version`` line of the lock files."""
    pins: dict[str, str] = {}
    for path in paths:
        for match in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", Path(path).read_text(encoding="utf-8"), re.MULTILINE):
            pins[canonical(match.group(1))] = match.group(2)
    return pins


# Not upstream news: the project itself, torch (pinned outside the lock) and the pip that `python -m venv`
# bootstrapped (test-latest does not upgrade it, so it would always read as "moved" backwards).
NOT_COMPARED = frozenset({"rag", "torch", "pip"})


def main(paths: list[str]) -> None:
    """Print the moved and the new packages."""
    pins = locked_versions(paths)
    installed = {
        canonical(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if canonical(d.metadata["Name"]) not in NOT_COMPARED
    }
    moved = sorted((name, pins[name], now) for name, now in installed.items() if name in pins and now != pins[name])
    added = sorted(set(installed) - set(pins))
    print(f"newest releases against the lock: {len(moved)} moved, {len(added)} new")
    for name, locked, now in moved:
        print(f"  {name}: {locked} -> {now}")
    for name in added:
        print(f"  {name}: new, {installed[name]}")


if __name__ == "__main__":
    main(sys.argv[1:])
