"""Example questions that fit the corpus being served.

Configured examples win (``RAG_EXAMPLES``: questions separated by ``|``, or the path of a file with one
question a line). Otherwise the seed examples are shown only when the seed articles they ask about are
indexed, and no examples at all for any other corpus: an example the documents cannot answer misleads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from rag import Bot

__all__ = ["SEED_DOCUMENTS", "corpus_examples"]

logger = logging.getLogger("rag.ui")

# The seed corpus (seeds/): the articles the built-in examples are about.
SEED_DOCUMENTS = frozenset({"000_9e8dd42f31235db3.txt", "001_a4f8977f78a39ff4.txt"})


def corpus_examples(bot: Bot, seed_examples: Sequence[str]) -> list[str]:
    """The example questions to show for ``bot``'s corpus (possibly none)."""
    configured = bot.settings.examples.strip()
    if configured:
        path = Path(configured).expanduser()
        if "|" not in configured and path.is_file():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                logger.warning("cannot read the examples file %s (%s); showing no examples", path, exc)
                return []
            return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        return [part.strip() for part in configured.split("|") if part.strip()]
    if set(bot.documents) >= SEED_DOCUMENTS:
        return list(seed_examples)
    return []
