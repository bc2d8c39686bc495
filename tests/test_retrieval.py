"""BM25 against a plain reference implementation, its incremental update after a refresh, and its warm-up."""

from __future__ import annotations

import math
import shutil
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import rag
from rag.ingest.terms import tokenize
from rag.retrieve.bm25 import BM25
from tests.conftest import SEEDS

TEXTS = [
    "KT signed a partnership with Microsoft in Redmond.",
    "Microsoft will invest in KT's cloud and AI services; the partnership runs five years.",
    "SK Telecom partnered with AWS during MWC.",
    "The government plans to invest $7 billion in AI chips by 2027.",
    "Samsung builds memory chips. Memory chips power AI servers.",
]
QUERIES = ["KT Microsoft partnership", "AI chips investment", "AWS", "memory chips", "nothing matches zebra"]


def _reference_scores(texts: list[str], query: str, k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 written out term by term, as in the textbook."""
    docs = [Counter(tokenize(t)) for t in texts]
    avg = sum(sum(d.values()) for d in docs) / len(docs)
    out = []
    for doc in docs:
        length = sum(doc.values())
        score = 0.0
        for term in set(tokenize(query)):
            df = sum(1 for d in docs if term in d)
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            tf = doc.get(term, 0)
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))
        out.append(score)
    return out


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_scores_match_the_textbook_formula(query: str) -> None:
    np.testing.assert_allclose(BM25(TEXTS).scores(query), _reference_scores(TEXTS, query), rtol=1e-5, atol=1e-6)


def test_bm25_top_ranks_only_texts_with_a_query_term() -> None:
    index = BM25(TEXTS)
    assert index.top("AWS", 5) == [2]
    assert index.top("memory chips", 2)[0] == 4
    assert index.top("zebra", 5) == []


def test_an_updated_bm25_equals_one_built_from_scratch() -> None:
    """Rows removed, moved and added: the derived index scores exactly like a new one."""
    previous = BM25(TEXTS)
    added = "KT and Microsoft open an AI transformation center in Seoul."
    new_texts = [TEXTS[3], TEXTS[0], added, TEXTS[4]]  # 1 and 2 removed, the rest moved
    kept = np.array([3, 0, -1, 4])
    updated = BM25.updated(previous, kept, [None, None, added, None])
    fresh = BM25(new_texts)
    for query in [*QUERIES, "Seoul transformation center"]:
        np.testing.assert_allclose(updated.scores(query), fresh.scores(query), rtol=1e-6)
        assert updated.idf(tokenize(query)[0]) == pytest.approx(fresh.idf(tokenize(query)[0]))


def test_bot_warms_bm25_up_and_derives_it_after_adding_documents(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "docs")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    retriever = bot._snapshot.retriever
    for thread in [t for t in threading.enumerate() if t.name == "rag-bm25-warm-up"]:
        thread.join(timeout=30)
    assert retriever._bm25 is not None, "BM25 is built in the background, before the first question"

    bot.add_documents([rag.Document.from_text("notes.md", "Ada Berg leads the Zorblat project in Busan.")])
    after = bot._snapshot.retriever
    assert after is not retriever
    texts = [c.text for c in bot.store.chunks]
    for query in ["Zorblat project", "KT Microsoft partnership"]:
        np.testing.assert_allclose(after.bm25.scores(query), BM25(texts).scores(query), rtol=1e-6)
    assert bot.ask("Who leads the Zorblat project?").citations[0].source == "notes.md"


def test_a_passage_reads_on_into_the_next_chunk_by_whole_sentences(tmp_path: Path) -> None:
    # A chunk that ends just before the sentence answering the question (sqlite's "INTEGER as Unix Time" item
    # after "TEXT ..., REAL ..."; pathlib's "... you can instantiate PureWindowsPath." after "If you want to
    # manipulate Windows paths on a Unix machine") hid it from the answerer unless the next chunk was retrieved.
    from rag.retrieve.retriever import READ_ON_CHARS

    docs = tmp_path / "docs"
    docs.mkdir()
    topics = ["harbour", "orchard", "glacier", "library", "volcano", "bakery", "railway", "meadow", "canyon"]
    text = "\n\n".join(
        f"The {topic} chapter has its own paragraph. It describes the {topic} at length, sentence after sentence."
        for topic in topics * 3
    )
    (docs / "book.md").write_text(text, encoding="utf-8")
    bot = rag.load(docs, tmp_path / "index", progress=False)
    store = bot._snapshot.retriever.store
    first, second = store.chunks[0], store.chunks[1]
    assert first.source == second.source and first.start < second.start <= first.end
    last_sentence = first.sentence_text(first.sentences[-1])
    passage = next(p for p in bot.retrieve(last_sentence, k=5) if p.row == 0)
    document = bot.document_text("book.md")
    following = [s for s in second.sentences if s.start >= first.end and s.end <= first.end + READ_ON_CHARS]
    assert following, "the test text must leave whole sentences of the next chunk within reach"
    assert passage.end == following[-1].end > first.end
    assert passage.text == document[passage.start : passage.end]
    assert [(s.start, s.end) for s in passage.sentences] == [*first.sentences, *following]
    assert all(passage.sentence_text(s) == document[s.start : s.end] for s in passage.sentences)
    assert all(-1.0 <= s.score <= 1.0 for s in passage.sentences)
