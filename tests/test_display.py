"""Answers and passages as a person reads them: prose reflowed, code kept, no Markdown markup (rag.answer.display).

The same text goes through ``plain_text`` (``--json``, exports, the API, the terminal) and the chat's HTML
(``ui.render``), which must stay escaped: a document's markup is shown, never run.
"""

from __future__ import annotations

import json

import pytest

import rag
from rag.answer import wire
from rag.answer.display import plain_text, read
from rag.answer.types import Answer, Citation

PYTHON_DOCS = (
    "Use the \\_\\_init\\_\\_ method; see \\[PEP 8\\] and *indent* with **<1>** spaces.\n"
    "This sentence was broken\nby the source's hard\nline breaks.\n\n"
    "```python\n# a comment, not a heading\ndef f(x):\n    return x * 2\n```\n\n"
    ">>> f(2)\n4\n\nCall `f()` with **one** argument."
)


def test_markup_is_gone_and_prose_is_reflowed() -> None:
    text = plain_text(PYTHON_DOCS, cites=False)
    for markup in ("\\_", "\\[", "*indent*", "**", "```", "`f()`"):
        assert markup not in text, markup
    assert "Use the __init__ method; see [PEP 8] and indent with <1> spaces." in text
    assert "This sentence was broken by the source's hard line breaks." in text
    assert "Call f() with one argument." in text


def test_code_blocks_keep_their_lines_and_indentation() -> None:
    blocks = read(PYTHON_DOCS)
    code = [b.text for b in blocks if b.kind == "code"]
    assert code == ["# a comment, not a heading\ndef f(x):\n    return x * 2", ">>> f(2)\n4"]
    assert "# a comment, not a heading\ndef f(x):\n    return x * 2" in plain_text(PYTHON_DOCS)
    inline = [r.text for b in blocks for r in b.runs if b.kind == "prose" and r.kind == "code"]
    assert inline == ["f()"]


@pytest.mark.parametrize(
    "text",
    [
        "snake_case_name stays",
        "2*3*4 = 24",
        "a path like C:\\Users\\me",
        "rate * time and x_1 + y_2",
        "[1] is a marker",
        "![logo](https://example.com/x.png) and [docs](https://example.com) stay visible as text",
    ],
)
def test_text_that_only_looks_like_markup_is_left_alone(text: str) -> None:
    assert plain_text(text) == text


def test_an_escaped_bracket_is_never_a_citation_marker() -> None:
    runs = [r for b in read("See \\[2\\] and [1].", cites=True) for r in b.runs]
    assert [r.text for r in runs if r.kind == "cite"] == ["[1]"]


def test_marks_follow_the_cited_sentence_through_the_reflow() -> None:
    text = "First line\nof the *first* sentence. Second."
    blocks = read(text, [(0, text.index(" Second"))])
    assert [(r.text, r.marked) for r in blocks[0].runs] == [
        ("First line of the first sentence.", True),
        (" Second.", False),
    ]


def test_list_items_keep_one_line_each() -> None:
    assert plain_text("Steps:\n\n- open it\n- close\n  it\n\nDone.") == "Steps:\n\n- open it\n- close it\n\nDone."


def _answer(text: str, passage: str) -> Answer:
    citation = Citation(n=1, source="guide.md", start=10, end=10 + len(passage), text=passage, score=0.5)
    return Answer(question="q?", text=text, citations=[citation], refused=False, backend="extractive")


def test_json_and_openai_carry_the_text_as_read() -> None:
    answer = _answer("Call `f()` with **one** argument. [1]", PYTHON_DOCS)
    data = json.loads(json.dumps(wire.ask_json(answer)))
    assert data["answer"] == "Call f() with one argument. [1]"
    assert "\\_" not in data["citations"][0]["text"] and "```" not in data["citations"][0]["text"]
    assert (data["citations"][0]["start"], data["citations"][0]["end"]) == (10, 10 + len(PYTHON_DOCS))
    assert answer.citations[0].text == PYTHON_DOCS  # the stored text and its offsets are unchanged
    completion = wire.OpenAICompletion("rag")
    assert completion.response(answer)["choices"][0]["message"]["content"] == data["answer"]
    pieces = [c["choices"][0]["delta"].get("content", "") for c in completion.answer_chunks(answer)]
    assert "".join(pieces) == data["answer"]


def test_the_chat_html_renders_code_as_code_and_stays_escaped() -> None:
    pytest.importorskip("gradio")
    from ui.render import answer_html, passage_text_html

    hostile = "A *note*:\n\n```\n<script>alert(1)</script>\n  <img src=x onerror=alert(2)>\n```\n\nEnd `<b>`."
    html = passage_text_html(hostile)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert '<pre class="rag-code"><code>&#60;script&#62;alert(1)&#60;/script&#62;&#10;  &#60;img' in html
    assert "<p>A note:</p>" in html and "<code>&#60;b&#62;</code>" in html
    assert "\n" not in html  # a blank line would hand the rest of the message to Gradio's Markdown parser
    message = answer_html(_answer("It doubles `x` [1], not [2].", "x"), "rag-for-1")
    assert '<a class="rag-cite" href="#rag-passage-1">&#91;1&#93;</a>' in message
    assert "&#91;2&#93;" in message  # not cited: shown as text, not a link
    assert "<code>x</code>" in message


def test_rag_ask_json_has_no_markdown_markup(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text(
        "# Guide\n\nThe \\_\\_init\\_\\_ hook runs **once** per\nprocess, before `main()` starts.\n", encoding="utf-8"
    )
    bot = rag.load(root / "docs", root / "index", progress=False)
    data = wire.ask_json(bot.ask("How often does the __init__ hook run?"))
    assert not data["refused"], data
    for field in (data["answer"], *(c["text"] for c in data["citations"])):
        assert "\\_" not in field and "**" not in field and "`" not in field, field
    assert "runs once per process" in data["answer"]


def test_markdown_headings_inside_any_code_fence_are_not_sections() -> None:
    from rag.ingest.readers.text import headings

    text = (
        "# Guide ¶\n\nIntro.\n\n~~~python\n# not a heading\n~~~\n\n````\n```\n# nor this\n```\n````\n\n"
        "## Options\n\nText.\n\n   ```sh\n# still code, never closed\n"
    )
    assert [(level, title) for _, level, title in headings(text)] == [(1, "Guide"), (2, "Options")]
