"""Asking questions of the seed articles through the public API."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

import rag
from rag.answer.types import REFUSAL_TEXT
from rag.eval.metrics import answer_is_correct
from tests.conftest import ANALYSIS, ANSWER_FIELDS, SEEDS, SIGNING


@pytest.mark.parametrize(
    ("question", "facts", "source"),
    [
        (
            "Who signed the KT-Microsoft agreement, and where?",
            ["Kim Young-shub", "Nadella", "Redmond"],
            SIGNING,
        ),
        ("When did KT launch Mi:dm?", ["October 2023"], ANALYSIS),
        ("Which cloud company did KT partner with during MWC?", ["AWS"], SIGNING),
        ("How much will the South Korean government invest in AI chips by 2027?", ["$7 billion"], ANALYSIS),
        ("How long had KT been discussing cooperation with Microsoft?", ["half a year"], ANALYSIS),
    ],
)
def test_answers_contain_the_facts_with_a_citation_into_the_right_file(
    seed_bot: rag.Bot, question: str, facts: list[str], source: str
) -> None:
    answer = seed_bot.ask(question)
    assert not answer.refused
    assert answer_is_correct(answer.text, [[f] for f in facts]), answer.text
    assert answer.backend == "extractive" and answer.notice is None
    assert "[1]" in answer.text
    cited_sources = {c.source for c in answer.citations}
    assert source in cited_sources
    original = (SEEDS / source).read_text(encoding="utf-8")
    for citation in answer.citations:
        text = (SEEDS / citation.source).read_text(encoding="utf-8")
        assert text[citation.start : citation.end] == citation.text
        for start, end in citation.highlights:
            assert citation.start <= start < end <= citation.end
    assert any(f in original for f in facts)
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_every_citation_marker_in_the_text_has_a_citation(seed_bot: rag.Bot) -> None:
    answer = seed_bot.ask("What will KT and Microsoft build together, and when will details come?")
    import re

    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.n for c in answer.citations}


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "how do I bake sourdough bread",
        "What is the stock price of Microsoft today?",
    ],
)
def test_off_topic_questions_are_refused(seed_bot: rag.Bot, question: str) -> None:
    answer = seed_bot.ask(question)
    assert answer.refused
    assert answer.text == REFUSAL_TEXT
    assert answer.citations == []
    assert answer.passages, "the closest passages are still returned for the user to check"


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("Which Japanese company will build KT's GPU farms?", ["Japanese"]),
        ("What did Google and Nvidia announce at MWC?", ["Google", "Nvidia"]),
    ],
)
def test_a_question_about_a_name_the_documents_never_mention_is_refused_saying_so(
    seed_bot: rag.Bot, question: str, names: list[str]
) -> None:
    answer = seed_bot.ask(question)
    assert answer.refused and answer.citations == []
    assert answer.notice == "The documents never mention " + ", ".join(f"“{n}”" for n in names) + "."


@pytest.mark.parametrize(
    "question",
    [
        "Who is Pareekh Jain?",  # names the documents hold, in any case
        "Hey, which US cloud providers has KT partnered with?",  # "Hey" starts the question: not a name
        "Who are the CEOs of the two companies that signed the deal?",  # an acronym's plural
        "WHO SIGNED THE KT-MICROSOFT AGREEMENT?",  # all capitals: case says nothing
    ],
)
def test_names_the_documents_hold_are_not_taken_for_unknown_ones(seed_bot: rag.Bot, question: str) -> None:
    passages = seed_bot.retrieve(question)
    assert passages.unknown_names == ()
    assert not seed_bot.ask(question).refused


def test_how_many_and_how_much_are_answered_only_with_a_figure(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "zorblat.md").write_text(
        "Ada Berg leads the Zorblat project at the Oslo lab. The Zorblat project builds two quiet wind turbines "
        "for city rooftops. Partners from Bergen joined the Zorblat project last spring.",
        encoding="utf-8",
    )
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    # The nearest sentences are about the project, but none holds an amount: a count ("two") does not do.
    assert bot.ask("How much does the Zorblat project cost?").refused
    assert "two quiet wind turbines" in bot.ask("How many turbines does the Zorblat project build?").text
    bot.add_documents([rag.Document.from_text("budget.md", "The Zorblat project costs 4 million euros a year to run.")])
    answer = bot.ask("How much does the Zorblat project cost?")
    assert not answer.refused and answer.citations[0].source == "budget.md", answer.text


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 4001, "4,001 characters"),
        ("?!? ... !!!", "no words"),
        ("what\x00is this", "NUL"),
    ],
)
def test_bad_questions_raise_a_clear_value_error_and_write_nothing(
    seed_bot: rag.Bot, question: str, message: str
) -> None:
    index = seed_bot.settings.index_dir
    before = {p.name: p.stat().st_mtime_ns for p in index.iterdir()}
    with pytest.raises(rag.QuestionError, match=message) as caught:
        seed_bot.ask(question)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(rag.QuestionError):
        seed_bot.retrieve(question)
    assert {p.name: p.stat().st_mtime_ns for p in index.iterdir()} == before


def test_retrieve_returns_scored_passages_best_first(seed_bot: rag.Bot) -> None:
    passages = seed_bot.retrieve("Mi:dm training data", k=5)
    assert 1 <= len(passages) <= 5
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    assert any("trillion" in p.text for p in passages[:2])
    assert all(-1.0 <= p.score <= 1.0 for p in passages)
    frame = passages.to_frame()
    assert list(frame.columns) == ["rank", "source", "start", "end", "score", "text"]


def test_answer_timings_and_json_shape(seed_bot: rag.Bot) -> None:
    answer = seed_bot.ask("When will KT reveal specifics of the partnership?")
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}
    assert answer.timings_ms["total"] >= answer.timings_ms["retrieve"] > 0
    data = answer.to_dict()
    assert list(data) == list(ANSWER_FIELDS)
    # Every earlier field first, as it was; where the passage comes from after (null for a .txt article).
    assert list(data["citations"][0]) == [
        "n",
        "source",
        "start",
        "end",
        "text",
        "score",
        "page",
        "page_label",
        "section",
    ]
    assert "September" in data["answer"]


def test_html_rendering_escapes_document_text(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "evil.md").write_text(
        "The Zorblat device was invented by <script>alert('x')</script> Professor Quux in 1999. "
        'Its inventor <img src=x onerror="alert(1)"> was never seen again.',
        encoding="utf-8",
    )
    bot = rag.load(docs, tmp_path / "index", progress=False)
    answer = bot.ask("Who invented the Zorblat device?")
    assert not answer.refused
    page = answer._repr_html_()
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page
    assert "<mark>" in page and "href=" in page
    assert "Quux" in str(answer)


def test_add_documents_indexes_new_text_and_cites_it(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "docs")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    report = bot.add_documents(
        [rag.Document.from_text("zorblat.md", "Zorblat Corp was founded in Oslo in 1987 by Ada Berg.")]
    )
    assert report.added == ["zorblat.md"]
    answer = bot.ask("Where was Zorblat Corp founded?")
    assert "Oslo" in answer.text and answer.citations[0].source == "zorblat.md"
    assert (tmp_path / "docs" / "zorblat.md").is_file()
    with pytest.raises(rag.DocumentError, match="already indexed"):
        bot.add_documents([rag.Document.from_text("zorblat.md", "Something else entirely.")])
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(rag.DocumentError, match="binary"):
        bot.add_documents([binary])
    assert bot.documents == sorted([SIGNING, ANALYSIS, "zorblat.md"])


def test_bot_answers_from_several_threads(seed_bot: rag.Bot) -> None:
    questions = [
        "Who signed the agreement?",
        "When did KT launch Mi:dm?",
        "What is the capital of France?",
    ] * 4
    expected = {q: seed_bot.ask(q).text for q in set(questions)}
    results: dict[int, str] = {}

    def ask(i: int, q: str) -> None:
        results[i] = seed_bot.ask(q).text

    threads = [threading.Thread(target=ask, args=(i, q)) for i, q in enumerate(questions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(questions))] == [expected[q] for q in questions]


def test_load_twice_shares_the_model(seed_bot: rag.Bot, tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "docs")
    other = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    assert other.embedder is seed_bot.embedder


def test_langchain_retriever(seed_bot: rag.Bot) -> None:
    documents = seed_bot.retriever.invoke("Who signed the agreement?")
    assert documents and documents[0].metadata["source"] in {SIGNING, ANALYSIS}
    assert {"start", "end", "score"} <= set(documents[0].metadata)
