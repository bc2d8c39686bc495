"""Readers on real files written by real libraries: fpdf2 PDFs, python-docx, HTML with boilerplate, text."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from rag.ingest.chunking import chunk_document, reflow, split_sentences
from rag.ingest.documents import Document, SkippedFile, load_document
from rag.ingest.readers import pdf as pdf_reader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "evals"))
import make_docs


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("real-docs")
    make_docs.write_all(folder)
    return folder


def sentences_of(doc: Document) -> list[str]:
    return [reflow(doc.text[s.start : s.end]) for s in split_sentences(doc.text)]


def test_pdf_pages_labels_and_bookmark_sections(folder: Path) -> None:
    doc = load_document(folder / "lantern-manual.pdf")
    assert doc.kind == "pdf"
    assert [(p.number, p.label) for p in doc.pages] == [(1, "i"), (2, "1"), (3, "2"), (4, "3"), (5, "4")]
    for page in doc.pages:  # spans tile the text, one line break between pages
        assert doc.text[page.start : page.end].strip()
    assert "Error code E42" in doc.text[doc.pages[3].start : doc.pages[3].end]
    titles = [s.title for s in doc.sections]
    assert "2 Configuration > 2.2 Queue files" in titles
    queue = next(s for s in doc.sections if s.title.endswith("2.2 Queue files"))
    assert doc.text[queue.start :].startswith("2.2 Queue files")
    assert "kept in the spool folder for 14 days" in reflow(doc.text[queue.start : queue.end])


def test_pdf_line_ends_are_reflowed_into_whole_sentences(folder: Path) -> None:
    sentences = sentences_of(load_document(folder / "lantern-manual.pdf"))
    # A word hyphenated at a line end is one word again.
    assert "Careful manipulation of the queue files by hand voids the support contract." in sentences
    # Wrapped lines of a full-width paragraph and of a narrow column make one sentence, not one per line.
    assert (
        "The admin console listens on port 7432 and accepts connections from the local machine only, unless "
        "the console_bind setting says otherwise." in sentences
    )
    assert "Error code E42 means that the TLS certificate of the relay has expired." in sentences
    # Two columns are read column by column: the left one's sentences all come before the right one's.
    left = sentences.index("Freeing space resumes delivery within a minute.")
    right = sentences.index("Error code E42 means that the TLS certificate of the relay has expired.")
    assert left < right
    # No sentence ends at a line break that is not a sentence end.
    for sentence in sentences:
        if sentence[0].islower():
            pytest.fail(f"a sentence starts mid-sentence: {sentence!r}")


def test_chunks_carry_page_section_and_exact_offsets(folder: Path) -> None:
    doc = load_document(folder / "lantern-manual.pdf")
    _, chunks = chunk_document(doc, chunk_size=300, chunk_overlap=60)
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        for sentence in chunk.sentences:
            place = chunk.place_at(sentence.start)
            page = next(p for p in doc.pages if p.start <= sentence.start <= p.end)
            assert place.page == page.number and place.page_label == page.label
    e42 = doc.text.index("Error code E42")
    chunk = next(c for c in chunks if c.start <= e42 < c.end)
    place = chunk.place_at(e42)
    assert (place.page, place.page_label, place.section) == (4, "3", "3 Troubleshooting")


def test_word_headings_and_table(folder: Path) -> None:
    doc = load_document(folder / "beacon-field-guide.docx")
    assert doc.kind == "docx" and doc.pages == ()
    assert "B-200 | 3600 mAh | 210 g" in doc.text.splitlines()
    water = doc.text.index("The B-200 is rated IP67")
    section = next(s for s in doc.sections if s.start <= water < s.end)
    assert section.title == "Beacon Field Guide > Specifications > Water resistance"
    _, chunks = chunk_document(doc, chunk_size=200, chunk_overlap=40)
    chunk = next(c for c in chunks if c.start <= water < c.end)
    assert chunk.place_at(water).section == section.title


def test_html_keeps_the_article_and_drops_the_boilerplate(folder: Path) -> None:
    doc = load_document(folder / "harbor-sync-release-notes.html")
    assert doc.kind == "html"
    assert "Harbor Sync 5.0 adds end-to-end encryption for shared folders." in doc.text
    for boilerplate in (
        "cookies",
        "Pricing",
        "Sign in",
        "newsletter",
        "All rights reserved",
        "dataLayer",
        "sans-serif",
    ):
        assert boilerplate not in doc.text, boilerplate
    removed = doc.text.index("Support for Windows 7")
    assert next(s for s in doc.sections if s.start <= removed < s.end).title == (
        "Harbor Sync 5.0 release notes > Removed features"
    )


def test_hard_wrapped_text_without_an_extension_is_read_and_reflowed(folder: Path) -> None:
    doc = load_document(folder / "MAILING-LIST")
    assert doc.kind == "text" and doc.text == (folder / "MAILING-LIST").read_text(encoding="utf-8")
    assert (
        'To subscribe to the list, send an email with just "subscribe lantern-users" in the body to '
        "majordomo@lists.tidewater.example." in sentences_of(doc)
    )
    posting = doc.text.index("Messages must be plain text")
    assert next(s for s in doc.sections if s.start <= posting < s.end).title == "Lantern mailing list > Posting rules"


def test_one_paragraph_a_line_is_not_reflowed() -> None:
    text = "A title without a full stop\nThe first paragraph follows on its own line, as news articles do it.\n"
    doc = Document.from_text("news.txt", text * 3)
    assert "A title without a full stop" in sentences_of(doc)


def test_encrypted_and_truncated_pdfs_say_why(tmp_path: Path) -> None:
    expected = make_docs.write_bad_pdfs(tmp_path)
    for name, reason in expected.items():
        with pytest.raises(SkippedFile, match=reason) as caught:
            load_document(tmp_path / name)
        assert caught.value.source == name and caught.value.reason.startswith(reason)


def test_scanned_pdf_without_tesseract_says_how_to_read_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_docs.write_scanned_pdf(tmp_path / "scan.pdf")
    monkeypatch.setattr(pdf_reader, "OCR_COMMAND", "tesseract-that-is-not-installed")
    with pytest.raises(SkippedFile, match=r"no text layer .*install tesseract-ocr to read it"):
        load_document(path)
    with pytest.raises(SkippedFile, match="OCR is off"):
        load_document(path, ocr="off")


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")
def test_scanned_pdf_is_read_with_tesseract(tmp_path: Path) -> None:
    doc = load_document(make_docs.write_scanned_pdf(tmp_path / "scan.pdf"))
    assert "vault opens at noon" in doc.text
    assert [p.number for p in doc.pages] == [1]


def test_char_boxes_cover_a_sentence_on_its_page(folder: Path) -> None:
    doc = load_document(folder / "lantern-manual.pdf")
    start = doc.text.index("The relay listens on port 7431")
    end = start + len("The relay listens on port 7431 by default.")
    page = doc.pages[2]
    (width, height), boxes = pdf_reader.char_boxes(
        folder / "lantern-manual.pdf", 3, start - page.start, end - page.start
    )
    assert len(boxes) == end - start  # one box per character: the offsets are PDFium's own indexes
    assert max(b[1] for b in boxes) - min(b[1] for b in boxes) < 3  # all on the sentence's one line
    assert all(0 <= left < right <= width and 0 <= bottom < top <= height for left, bottom, right, top in boxes)
