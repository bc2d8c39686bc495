from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rag.errors import DocumentError
from rag.ingest.documents import Document, load_documents


def test_reads_txt_and_md_and_skips_unreadable_files_with_a_named_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.txt").write_text("Plain text.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Title\n\nMarkdown.", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    with caplog.at_level(logging.WARNING):
        docs = load_documents(tmp_path)
    assert [d.source for d in docs] == ["a.txt", "b.md"]
    for name in ("latin1.txt", "binary.txt", "empty.md"):
        assert name in caplog.text
    assert "not UTF-8" in caplog.text and "binary" in caplog.text


def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="does not exist"):
        load_documents(tmp_path / "nope")
    with pytest.raises(DocumentError, match="no readable"):
        load_documents(tmp_path)


def test_symlink_outside_the_folder_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret", encoding="utf-8")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.txt").write_text("fine", encoding="utf-8")
    (folder / "link.txt").symlink_to(outside)
    with caplog.at_level(logging.WARNING):
        docs = load_documents(folder)
    assert [d.source for d in docs] == ["ok.txt"]
    assert "outside the docs folder" in caplog.text


def test_document_names_cannot_escape_the_folder() -> None:
    with pytest.raises(DocumentError):
        Document.from_text("../evil.txt", "x")
    with pytest.raises(DocumentError):
        Document.from_text("/etc/passwd", "x")
