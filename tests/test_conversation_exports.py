"""Saved conversations: unique titles from the first question, and exports that say where a citation is."""

from __future__ import annotations

from pathlib import Path

from server.conversations import ConversationStore, to_markdown
from server.db import Database

PDF_ANSWER = {
    "question": "Which port?",
    "answer": "The relay listens on port 7431. [1]",
    "refused": False,
    "citations": [
        {
            "n": 1,
            "source": "lantern-manual.pdf",
            "start": 562,
            "end": 751,
            "text": "The relay listens on port 7431 by default.",
            "score": 0.71,
            "page": 3,
            "page_label": "2",
            "section": "2 Configuration > 2.1 Ports",
        }
    ],
}


def test_titles_from_the_first_question_are_unique_per_owner(tmp_path: Path) -> None:
    store = ConversationStore(Database(tmp_path / "state.db"))
    for _ in range(3):
        store.append("rita", None, "Which  port?", "<p>x</p>", PDF_ANSWER)
    store.append("ed", None, "Which port?", "<p>x</p>", PDF_ANSWER)
    assert sorted(c.title for c in store.list("rita")) == ["Which port?", "Which port? (2)", "Which port? (3)"]
    assert [c.title for c in store.list("ed")] == ["Which port?"]


def test_the_markdown_export_gives_page_and_section_of_a_pdf_citation(tmp_path: Path) -> None:
    store = ConversationStore(Database(tmp_path / "state.db"))
    cid = store.append("rita", None, "Which port?", "<p>x</p>", PDF_ANSWER)
    conversation = store.get("rita", cid)
    assert conversation is not None
    md = to_markdown(conversation)
    assert "- [1] `lantern-manual.pdf` p. 3 (printed 2) §2.1 Ports (chars 562-751): The relay listens" in md
