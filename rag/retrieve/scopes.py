"""Scoped questions: the documents a question may be answered from, named as people name them.

``resolve_sources`` turns names, base names and glob patterns (``"reports/*.md"``) into the indexed
documents they select; the ``Retriever`` then searches only those documents' chunks (a
``rag.stores.base.Scope``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from rag.errors import QuestionError

__all__ = ["resolve_sources"]


_GLOB = frozenset("*?[")


def resolve_sources(patterns: Iterable[str], names: Sequence[str]) -> list[str]:
    """The document names that ``patterns`` select: exact names, base names, or glob patterns (``*.md``).

    Raises:
        QuestionError: A pattern selects no indexed document (a typo should not silently widen or empty
            the scope).
    """
    chosen: set[str] = set()
    known = set(names)
    for pattern in patterns:
        pattern = str(pattern).strip()
        if not pattern:
            continue
        if pattern in known:
            chosen.add(pattern)
            continue
        if _GLOB & set(pattern):
            found = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
            found |= {n for n in names if fnmatch.fnmatchcase(PurePosixPath(n).name, pattern)}
        else:
            found = {n for n in names if PurePosixPath(n).name == pattern}
        if not found:
            raise QuestionError(f"no indexed document matches {pattern!r}; 'rag docs list' shows their names")
        chosen |= found
    return sorted(chosen)
