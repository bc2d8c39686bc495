from __future__ import annotations

import itertools
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.ingest.chunking import chunk_document, split_sentences
from rag.ingest.documents import Document, load_documents
from tests.conftest import SEEDS


def test_every_seed_chunk_and_sentence_round_trips_to_the_original_text() -> None:
    for doc in load_documents(SEEDS):
        original = (SEEDS / doc.source).read_text(encoding="utf-8")
        sentences, chunks = chunk_document(doc, 800, 200)
        assert chunks, doc.source
        for chunk in chunks:
            assert original[chunk.start : chunk.end] == chunk.text
            assert len(chunk.text) <= 800
            for sentence in chunk.sentences:
                assert chunk.start <= sentence.start < sentence.end <= chunk.end
        covered = {s for c in chunks for s in c.sentences}
        assert covered == set(sentences), "every sentence belongs to some chunk"


def test_chunks_overlap_by_whole_sentences_and_ids_are_stable() -> None:
    doc = load_documents(SEEDS)[1]
    _, first = chunk_document(doc, 600, 150)
    _, again = chunk_document(doc, 600, 150)
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    shared = [set(a.sentences) & set(b.sentences) for a, b in itertools.pairwise(first)]
    assert any(shared), "consecutive chunks share trailing sentences"


def test_sentence_split_keeps_abbreviations_and_lowercase_continuations() -> None:
    text = "Mr. Kim met Dr. Lee in the U.S. today. It uses its A. service. Next one!\n- A bullet line"
    spans = [text[s.start : s.end] for s in split_sentences(text)]
    assert spans == [
        "Mr. Kim met Dr. Lee in the U.S. today.",
        "It uses its A. service.",
        "Next one!",
        "A bullet line",
    ]


def test_a_sentence_longer_than_a_chunk_is_cut_at_spaces() -> None:
    doc = Document.from_text("long.txt", "word " * 400)
    _, chunks = chunk_document(doc, 200, 40)
    assert all(len(c.text) <= 200 for c in chunks)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_letters + " .!?\n\t'\"-é", min_size=1, max_size=3000))
def test_offsets_round_trip_for_any_text(text: str) -> None:
    doc = Document.from_text("x.txt", text)
    _, chunks = chunk_document(doc, 300, 60)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
        assert len(chunk.text) <= 300
