"""How passages are shown to a model: ``<passage>`` blocks that a document's own text cannot close or forge.

One place for both readers of passages: the LLM prompt (``rag.answer.answerers.llm``) and the MCP tools'
text (``rag.answer.wire``), so a client's model reads document text as data there too. A document cannot
write our delimiters in any case or spacing, and a file name cannot add attributes or close the tag.
"""

from __future__ import annotations

import html
import re

__all__ = ["delimit_passage", "escape_passage"]

# "<" opening anything a model could read as our delimiters, in any case and spacing: "</PASSAGE>", "< /passage",
# "<passages", "<\u200bpassage" (zero-width and other invisible characters count as spacing).
_DELIMITER = re.compile(r"<(?=[\s\u200b-\u200f\u2060\ufeff]*/?[\s\u200b-\u200f\u2060\ufeff]*passage)", re.IGNORECASE)


def escape_passage(text: str) -> str:
    """``text`` with every ``<`` that could open or close a passage block escaped (``&lt;``).

    A document cannot close its own block, or open another, and write outside it.
    """
    return _DELIMITER.sub("&lt;", text)


def _attribute(value: str) -> str:
    """``value`` made safe inside a double-quoted attribute, so a file name cannot add attributes or close the tag.

    Whitespace runs (line breaks too) become one space; ``&``, ``<``, ``>``, ``"`` and ``'`` become entities.
    """
    return html.escape(" ".join(value.split()), quote=True)


def delimit_passage(n: int, source: str, text: str) -> str:
    """One passage as a model is shown it: a ``<passage>`` block that its own text cannot close or forge.

    Also how passages leave the MCP tools (``rag.answer.wire``).
    """
    # A quote or bracket in a file name must not end the attribute and write a tag of its own.
    return f'<passage n="{n}" source="{_attribute(source)}">\n{escape_passage(text)}\n</passage>'
