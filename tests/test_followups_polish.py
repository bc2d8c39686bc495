"""Follow-up questions are spotted by evidence (pronouns, a question that finds nothing alone), not by length."""

from __future__ import annotations

from pathlib import Path

import pytest

import rag
from rag.answer.followups import looks_like_follow_up, normalize_history

SIGNED = "KT CEO Kim Young-shub and Microsoft CEO Satya Nadella signed the agreement at Microsoft’s headquarters."
GZIP_TURNS = [
    {"role": "user", "content": "What changed in gzip 1.12?"},
    {"role": "assistant", "content": "I couldn't find this in the documents."},
]


@pytest.mark.parametrize("question", ["Who is Jain?", "KT는 누구와 협력했나요?", "Mi:dm tokens?"])
def test_a_short_question_that_stands_alone_is_not_rewritten(seed_bot: rag.Bot, question: str) -> None:
    assert not looks_like_follow_up(question)
    answer = seed_bot.ask(question, history=GZIP_TURNS)
    assert answer.standalone_question is None, answer.standalone_question
    assert "gzip" not in (answer.standalone_question or "")


def test_pronouns_and_a_question_that_finds_nothing_alone_are_follow_ups(seed_bot: rag.Bot) -> None:
    turns = [
        {"role": "user", "content": "Who signed the KT-Microsoft agreement?"},
        {"role": "assistant", "content": SIGNED},
    ]
    assert looks_like_follow_up("And when will they share the details?")
    where = seed_bot.ask("Where?", history=turns)  # no pronoun, but nothing to search for on its own
    assert where.standalone_question is not None and "KT-Microsoft" in where.standalone_question
    assert not where.refused and "Redmond" in where.text, where.text


def test_history_of_question_answer_tuples_is_accepted(seed_bot: rag.Bot) -> None:
    history = [("Who signed the KT-Microsoft agreement?", SIGNED)]
    assert normalize_history(history) == [("user", history[0][0]), ("assistant", SIGNED)]
    answer = seed_bot.ask("Where did they sign it?", history=history)
    assert answer.standalone_question is not None and "KT-Microsoft" in answer.standalone_question
    assert "Redmond" in answer.text, answer.text
    # (role, text) pairs keep working.
    assert normalize_history([("user", "hi"), ("assistant", "hello")]) == [("user", "hi"), ("assistant", "hello")]


@pytest.mark.parametrize("history", [["just a string"], [("a", "b", "c")], [42]])
def test_a_history_of_another_shape_is_a_clear_error(seed_bot: rag.Bot, history: list[object]) -> None:
    with pytest.raises(rag.QuestionError, match="history"):
        seed_bot.ask("Where did they sign it?", history=history)  # type: ignore[arg-type]


def test_a_follow_up_asking_what_the_documents_never_say_is_refused(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "newsletter.md").write_text(
        "# The Zorblat newsletter\n\nTo subscribe to the Zorblat newsletter, send an email with the word JOIN to "
        "news@zorblat.example. The newsletter comes out on the first Monday of every month.",
        encoding="utf-8",
    )
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    first = bot.ask("How do I subscribe to the Zorblat newsletter?")
    assert not first.refused and "JOIN" in first.text
    turns = [("How do I subscribe to the Zorblat newsletter?", first.text)]
    answer = bot.ask("and how do I unsubscribe?", history=turns)
    assert answer.refused, answer.text
    assert answer.notice and "unsubscribe" in answer.notice
    # A follow-up the documents do answer still gets its answer.
    assert "Monday" in bot.ask("and when does it come out?", history=turns).text
