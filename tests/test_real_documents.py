"""A docs folder of real formats, end to end: index, skip bad files by name, ask, cite page and section."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rag
from rag.answer.types import format_place
from rag.cli.format import format_answer
from rag.ingest.chunking import reflow
from rag.stores.manifest import MANIFEST

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "evals"))
import make_docs

BAD = {
    "notes.xyz": "unsupported file type '.xyz'",
    "latin1.txt": "not UTF-8 text (tried UTF-8",
    "locked.pdf": "encrypted PDF",
    "truncated.pdf": "corrupt or truncated PDF",
}


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> rag.Bot:
    root = tmp_path_factory.mktemp("real-formats")
    docs = root / "docs"
    make_docs.write_all(docs)
    make_docs.write_bad_pdfs(docs)
    (docs / "notes.xyz").write_bytes(b"\x01\x02")
    (docs / "latin1.txt").write_bytes("Caf\xe9 au lait".encode("latin-1"))
    return rag.load(docs, root / "index", progress=False)


def test_every_format_is_indexed_and_every_bad_file_named_with_its_reason(bot: rag.Bot) -> None:
    assert bot.documents == [
        "MAILING-LIST",
        "backups.rst",
        "beacon-field-guide.docx",
        "harbor-sync-release-notes.html",
        "lantern-manual.pdf",
    ]
    report = bot.refresh()
    assert report.embedded_chunks == 0  # nothing changed (it may record the times of files just written)
    assert [name for name, _ in report.skipped] == sorted(BAD)
    for name, reason in report.skipped:
        assert reason.startswith(BAD[name]), (name, reason)
        assert f"{name}: {reason}" in report.summary()
    manifest = json.loads((bot.settings.index_dir / MANIFEST).read_text())
    assert manifest["skipped"] == dict(report.skipped) == bot.skipped
    assert manifest["files"]["lantern-manual.pdf"]["kind"] == "pdf"
    assert manifest["files"]["lantern-manual.pdf"]["pages"] == 5


def test_a_skipped_file_is_reported_once_when_found(bot: rag.Bot, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        rag.load(bot.settings.docs_dir, bot.settings.index_dir, progress=False)
    assert "locked.pdf" not in caplog.text  # known since the first index: not logged again
    bad = bot.settings.docs_dir / "scrambled.docx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    try:
        before = {p.name for p in bot.settings.index_dir.iterdir() if p.name.startswith("seg-")}
        with caplog.at_level(logging.WARNING):
            caplog.clear()
            report = bot.refresh()
        assert "skipped scrambled.docx: corrupt or truncated Word file" in caplog.text
        assert dict(report.skipped)["scrambled.docx"].startswith("corrupt or truncated Word file")
        assert report.embedded_chunks == 0
        assert {p.name for p in bot.settings.index_dir.iterdir() if p.name.startswith("seg-")} == before
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            bot.refresh()
        assert "scrambled.docx" not in caplog.text
    finally:
        bad.unlink()
        bot.refresh()


@pytest.mark.parametrize(
    ("question", "source", "page", "label", "section", "words"),
    [
        (
            "Which port does the relay listen on by default?",
            "lantern-manual.pdf",
            3,
            "2",
            "2 Configuration > 2.1 Ports",
            "7431",
        ),
        ("What does error code E42 mean?", "lantern-manual.pdf", 4, "3", "3 Troubleshooting", "certificate"),
        ("Which team wrote Lantern Relay?", "lantern-manual.pdf", 1, "i", "Preface", "Tidewater Systems"),
        (
            "How long does a full charge of the Beacon handset take?",
            "beacon-field-guide.docx",
            None,
            None,
            "Beacon Field Guide > Charging",
            "95 minutes",
        ),
        (
            "Which operating system is no longer supported by Harbor Sync 5.0?",
            "harbor-sync-release-notes.html",
            None,
            None,
            "Harbor Sync 5.0 release notes > Removed features",
            "Windows 7",
        ),
        (
            "At what time should lantern-backup run every night?",
            "backups.rst",
            None,
            None,
            "Backups > Nightly backups",
            "02:30",
        ),
    ],
)
def test_citations_name_page_and_section_and_round_trip(
    bot: rag.Bot, question: str, source: str, page: int | None, label: str | None, section: str, words: str
) -> None:
    answer = bot.ask(question)
    assert not answer.refused and words in answer.text
    # The sentence that holds the answer: its page and section, and its citation's (that of its first highlight).
    cited, start = next(
        (c, s) for c in answer.citations for s, e in c.highlights if words in reflow(c.text[s - c.start : e - c.start])
    )
    chunk = next(p.chunk for p in answer.passages if (p.source, p.start) == (cited.source, cited.start))
    place = chunk.place_at(start)
    assert (cited.source, place.page, place.page_label, place.section) == (source, page, label, section)
    first = chunk.place_at(min(cited.highlights)[0])
    assert (cited.page, cited.page_label, cited.section) == (first.page, first.page_label, first.section)
    for citation in answer.citations:
        assert bot.document_text(citation.source)[citation.start : citation.end] == citation.text
        data = citation.to_dict()
        assert {"n", "source", "start", "end", "text", "score", "page", "page_label", "section"} <= set(data)


def test_a_hard_wrapped_answer_is_not_cut_at_a_line_break(bot: rag.Bot) -> None:
    answer = bot.ask("How do I subscribe to the lantern-users mailing list?")
    assert 'send an email with just "subscribe lantern-users" in the body to majordomo@lists.tidewater.example.' in (
        answer.text
    )
    hyphenated = bot.ask("What voids the Lantern Relay support contract?")
    assert "Careful manipulation of the queue files by hand voids the support contract." in hyphenated.text


def test_cli_ask_json_and_index_summary(bot: rag.Bot) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    common = ["--docs", str(bot.settings.docs_dir), "--index", str(bot.settings.index_dir), "-q"]
    index = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", *common], capture_output=True, text=True, env=env, check=True
    )
    assert "4 file(s) not indexed:" in index.stdout and "locked.pdf: encrypted PDF" in index.stdout
    asked = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "ask",
            *common,
            "--json",
            "How long are queue files kept in the spool folder?",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    citation = json.loads(asked.stdout)["citations"][0]
    assert (citation["source"], citation["page"], citation["section"]) == (
        "lantern-manual.pdf",
        3,
        "2 Configuration > 2.2 Queue files",
    )
    assert "locked.pdf" not in asked.stderr  # reported when found, not on every question


def test_human_output_names_file_page_section_and_the_cited_sentence(bot: rag.Bot) -> None:
    answer = bot.ask("Which port does the relay listen on by default?")
    text = format_answer(answer)
    assert "lantern-manual.pdf p. 3 (printed 2) §2.1 Ports  chars " in text
    assert "    “The relay listens on port 7431 by default.”" in text
    assert "(score" not in text  # the whole passage only with -v
    assert "p. 3 (printed 2) §2.1 Ports" in answer._repr_html_()  # the notebook's rendering too
    verbose = format_answer(answer, verbose=True)
    assert "The admin console listens on port 7432" in verbose and "(score" in verbose
    assert (
        format_place("spec.pdf", 7, "7", "2. Unified system > 2.4. The glob files")
        == "spec.pdf p. 7 §2.4 The glob files"
    )
    assert format_place("guide.docx", None, None, "Guide > Charging") == "guide.docx § Charging"
    assert format_place("notes.txt", None, None, None) == "notes.txt"


def test_adding_a_pdf_copies_the_file_itself_and_cites_its_page(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.md").write_text("# Note\n\nThe office plant is called Gerald.\n", encoding="utf-8")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    manual = make_docs.write_pdf(tmp_path / "lantern-manual.pdf")
    report = bot.add_documents([manual])
    assert report.added == ["lantern-manual.pdf"]
    assert (tmp_path / "docs" / "lantern-manual.pdf").read_bytes() == manual.read_bytes()  # the PDF, not its text
    answer = bot.ask("Under which license is Lantern Relay released?")
    assert "Mozilla Public License 2.0" in answer.text
    assert (answer.citations[0].source, answer.citations[0].page) == ("lantern-manual.pdf", 5)


def test_an_index_inside_the_docs_folder_is_not_a_document(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.md").write_text("The office plant is called Gerald.\n", encoding="utf-8")
    bot = rag.load(docs, docs / "index", progress=False)
    report = bot.refresh()
    assert bot.documents == ["note.md"] and report.skipped == []


MIME_SPEC = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")
TASN1 = Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf")


@pytest.mark.skipif(not MIME_SPEC.is_file(), reason="Debian's shared-mime-info PDF is not installed")
def test_a_real_pdf_is_cited_down_to_page_and_section(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    shutil.copy(MIME_SPEC, tmp_path / "docs")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    answer = bot.ask("What does the globs2 file contain?")
    assert "globs2" in answer.text
    first = answer.citations[0]
    assert (first.page, first.section) == (7, "2. Unified system > 2.4. The glob files")
    assert "shared-mime-info-spec.pdf p. 7 §2.4 The glob files" in format_answer(answer)
    for citation in answer.citations:
        assert bot.document_text(citation.source)[citation.start : citation.end] == citation.text


@pytest.mark.skipif(not TASN1.is_file(), reason="Debian's libtasn1-doc PDF is not installed")
def test_a_real_pdf_with_printed_page_labels() -> None:
    from rag.ingest.documents import load_document

    doc = load_document(TASN1)
    labels = [page.label for page in doc.pages]
    assert labels[:4] == ["T-1", "T-2", "i", "1"]  # printed "page 1" is physical page 4


def test_a_format_3_index_is_rebuilt_with_a_log_line_saying_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.md").write_text("The office plant is called Gerald.\n", encoding="utf-8")
    rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    manifest = tmp_path / "index" / MANIFEST
    manifest.write_text(manifest.read_text().replace('"format_version": 4', '"format_version": 3'))
    with caplog.at_level(logging.INFO):
        bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    line = next(r for r in caplog.records if r.getMessage().startswith("rebuilding the index"))
    assert line.levelno == logging.INFO
    assert "index format 3, from an older version of rag" in line.getMessage()
    assert "version of the readers" in line.getMessage()
    assert json.loads(manifest.read_text())["format_version"] == 4 and bot.documents == ["note.md"]
