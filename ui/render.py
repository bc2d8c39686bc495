"""Turning an ``Answer`` into the HTML of the chat message and of the evidence panel.

Everything that comes from a document or a model is escaped here, so a document holding ``<script>`` or
``<img onerror=...>`` shows as text and runs nothing, and a model's Markdown image or link never makes the
browser fetch anything: the streamed text (``streaming_html``) goes through the same escaping as the answer.

Each answer carries a ``key``, unique on the page, as a class on its message and on its evidence panel.
The message also keeps its own cited passages in a collapsed "Sources" block, so a ``[n]`` of an older
answer (whose passages the panel no longer shows), or any ``[n]`` on a narrow screen (where the panel sits
far below), opens that answer's own passage instead of the newest answer's.

Answers and passages are shown as what they are (``rag.answer.display``): prose reflowed into paragraphs,
inline code as ``<code>``, code blocks as ``<pre>`` with their line breaks, and no Markdown escapes or
emphasis markers. Each run of text is escaped here as before; the only tags are the ones written here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from rag import Answer
from rag.answer.display import Block, read
from rag.answer.types import Citation, format_place

__all__ = [
    "answer_html",
    "answer_key",
    "blocks_html",
    "error_html",
    "evidence_html",
    "passage_anchor",
    "passage_text_html",
    "saved_evidence_html",
    "streaming_html",
]

_MARKER = re.compile(r"\[(\d+)\]")
_BLOCK_TAGS = {"prose": ("<p>", "</p>"), "item": ('<p class="rag-item">', "</p>")}
# HTML's special characters, and those Markdown would act on, as entities: all display as themselves.
# One table applied in one pass, so no entity is escaped twice.
_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'*_`~#|\\[]"})


_KEYS = itertools.count(1)


def answer_key() -> str:
    """A key for one answer, unique within this process (and so on every page it serves)."""
    return f"rag-for-{next(_KEYS)}"


def passage_anchor(n: int) -> str:
    """The element id of cited passage ``n`` in the evidence panel."""
    return f"rag-passage-{n}"


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


def blocks_html(blocks: tuple[Block, ...], cited: set[int] | frozenset[int] = frozenset()) -> str:
    """The blocks as HTML, every run escaped; a ``cite`` run of a cited ``n`` links to its passage.

    No newline is written (code's line breaks are ``&#10;``): Gradio's chat reads a message as Markdown, where
    a blank line would end the HTML block and hand what follows to the Markdown parser.
    """
    out: list[str] = []
    for block in blocks:
        inline = block.kind != "code"
        runs = "".join(_run_html(run.text, run.kind, run.marked, cited, inline) for run in block.runs)
        if block.kind == "code":
            out.append(f'<pre class="rag-code"><code>{runs}</code></pre>')
        else:
            opening, closing = _BLOCK_TAGS[block.kind]
            out.append(f"{opening}{runs}{closing}")
    return "".join(out)


def _run_html(text: str, kind: str, marked: bool, cited: set[int] | frozenset[int], inline: bool) -> str:
    if kind == "cite" and (match := _MARKER.fullmatch(text)) and int(match.group(1)) in cited:
        out = f'<a class="rag-cite" href="#{passage_anchor(int(match.group(1)))}">&#91;{match.group(1)}&#93;</a>'
    else:
        out = _escape(text).replace("\n", "&#10;")
        if kind == "code" and inline:
            out = f"<code>{out}</code>"
    return f"<mark>{out}</mark>" if marked else out


def passage_text_html(text: str, offset: int = 0, spans: tuple[tuple[int, int], ...] = ()) -> str:
    """A passage as read, with the ``spans`` (document offsets; ``text`` starts at ``offset``) marked."""
    return blocks_html(read(text, [(start - offset, end - offset) for start, end in spans]))


def answer_html(answer: Answer, key: str = "") -> str:
    """The chat message: the answer with each ``[n]`` a link to its passage, any notice, and its sources.

    ``key`` (from ``answer_key``) ties the message to its evidence panel and holds its own passages.
    """
    cited = {c.n for c in answer.citations}
    body = blocks_html(read(answer.text, cites=True), cited)
    kind = "rag-refusal" if answer.refused else "rag-answer"
    parts = [f'<div class="{kind}">{body}</div>']
    if answer.standalone_question:
        parts.append(f'<div class="rag-rewrite">Searched for: {_escape(answer.standalone_question)}</div>')
    if answer.notice:
        parts.append(f'<div class="rag-notice">{_escape(answer.notice)}</div>')
    if key and answer.citations:
        sources = "".join(_passage_html(c, f"rag-src-{c.n}") for c in answer.citations)
        parts.append(
            f'<details class="rag-sources"><summary>Sources ({len(answer.citations)})</summary>{sources}</details>'
        )
    return f'<div class="rag-message {key}">{"".join(parts)}</div>' if key else "".join(parts)


def _passage_html(
    c: Citation, extra_class: str = "", anchor: str = "", page_view: Callable[[Citation], str] | None = None
) -> str:
    attribute = f' id="{anchor}"' if anchor else ""
    return (
        f'<div class="rag-passage {extra_class}"{attribute}>'
        f'<div class="rag-passage-head"><span class="rag-n">[{c.n}]</span> '
        f'<span class="rag-source">{_escape(c.source)}</span> '
        f"{_place_html(c)}"
        f'<span class="rag-pos">chars {c.start}–{c.end}</span> '
        f'<span class="rag-score" title="cosine similarity to the question">score {c.score:.2f}</span></div>'
        f'<div class="rag-passage-text">{passage_text_html(c.text, c.start, c.highlights)}</div>'
        f"{page_view(c) if page_view is not None else ''}</div>"
    )


def _place_html(citation: Citation) -> str:
    """The page and section of a citation, as spans ("" for a document with neither)."""
    parts = []
    if citation.page is not None:
        page = format_place("", citation.page, citation.page_label, None).strip()
        parts.append(f'<span class="rag-page-number">{_escape(page)}</span> ')
    if citation.section:
        section = format_place("", None, None, citation.section).strip()
        parts.append(f'<span class="rag-section" title="{_escape(citation.section)}">{_escape(section)}</span> ')
    return "".join(parts)


_SAVED_KEY = re.compile(r'^<div class="rag-message (rag-for-\d+)">')
_SAVED_SOURCES = re.compile(r'<details class="rag-sources"><summary>[^<]*</summary>(.*)</details>', re.DOTALL)
_SAVED_PASSAGE = re.compile(r'<div class="rag-passage rag-src-(\d+)">')


def saved_evidence_html(message: str) -> str | None:
    """The evidence panel of a saved answer, rebuilt from its own message (``answer_html``), or None.

    A reopened conversation has no ``Answer`` objects, only the messages this module wrote; each keeps its
    cited passages in its "Sources" block, so the panel shows those (without the PDF page images) under the
    message's key, and its ``[n]`` markers reach them as they did when the answer came.
    """
    key = _SAVED_KEY.match(message)
    sources = _SAVED_SOURCES.search(message)
    if key is None or sources is None:
        return None
    passages = _SAVED_PASSAGE.sub(
        lambda m: f'<div class="rag-passage" id="{passage_anchor(int(m.group(1)))}">', sources.group(1)
    )
    return f'<div class="rag-evidence {key.group(1)}">{passages}</div>'


def streaming_html(text: str) -> str:
    """The answer while it streams in: escaped exactly as the final answer is.

    A model's text is never Markdown or HTML to the page: ``![x](https://...)`` or ``<img src=...>`` in a reply
    would otherwise make every reader's browser fetch that URL (and whatever the model put in it) the moment
    it streamed past, before any check ran on the answer.
    """
    return f'<div class="rag-answer rag-streaming">{blocks_html(read(text))}</div>'


def error_html(message: str) -> str:
    """A problem with the question itself, shown in the chat as such (not as an answer)."""
    return f'<div class="rag-error">{_escape(message)}</div>'


def evidence_html(answer: Answer | None, key: str = "", page_view: Callable[[Citation], str] | None = None) -> str:
    """The evidence panel: each cited passage with its place, score and the cited sentences marked.

    The place is the source, page and section, and character offsets. For a PDF citation, ``page_view``
    (see ``ui.pages.page_viewer``) adds its page as an image with the cited sentences highlighted.
    ``key`` is the one given to ``answer_html`` for the same answer.
    """
    if answer is None:
        return '<div class="rag-evidence-empty">Cited passages appear here.</div>'
    parts: list[str] = [f'<div class="rag-evidence {key}">'] if key else []
    if answer.refused:
        parts.append(
            '<div class="rag-evidence-note">No passage answers this question. '
            "The closest ones are listed for you to check.</div>"
        )
    if answer.notice:
        parts.append(f'<div class="rag-notice">{_escape(answer.notice)}</div>')
    if answer.unsupported_sentences:
        items = "".join(f"<li>{_escape(s)}</li>" for s in answer.unsupported_sentences)
        parts.append(f'<div class="rag-unsupported">Not supported by the cited passages:<ul>{items}</ul></div>')
    for c in answer.citations:
        parts.append(_passage_html(c, anchor=passage_anchor(c.n), page_view=page_view))
    if answer.refused:
        for p in answer.passages[:3]:
            parts.append(
                f'<div class="rag-passage rag-uncited"><div class="rag-passage-head">'
                f'<span class="rag-source">{_escape(p.source)}</span> '
                f'<span class="rag-pos">chars {p.start}–{p.end}</span> '
                f'<span class="rag-score">score {p.score:.2f}</span></div>'
                f'<div class="rag-passage-text">{passage_text_html(p.text)}</div></div>'
            )
    if key:
        parts.append("</div>")
    return "".join(parts)
