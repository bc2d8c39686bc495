from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ANSWER_FIELDS, SEEDS, SIGNING

RAG = [sys.executable, "-m", "rag.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    shutil.copytree(SEEDS, tmp_path / "docs")
    return {**os.environ, "RAG_DOCS": str(tmp_path / "docs"), "RAG_INDEX": str(tmp_path / "index")}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAG, *args], env=env, capture_output=True, text=True, timeout=300)


def test_ask_json_prints_exactly_one_object_with_the_schema(env: dict[str, str]) -> None:
    result = run(["ask", "Who signed the KT-Microsoft agreement, and where?", "--json", "-k", "3"], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == set(ANSWER_FIELDS)
    assert data["refused"] is False and data["backend"] == "extractive" and data["notice"] is None
    assert "Nadella" in data["answer"] and "[1]" in data["answer"]
    citation = data["citations"][0]
    assert set(citation) == {"n", "source", "start", "end", "text", "score", "page", "page_label", "section"}
    assert citation["page"] is None and citation["section"] is None  # a .txt article has neither
    assert citation["source"] == SIGNING
    original = (Path(env["RAG_DOCS"]) / SIGNING).read_text(encoding="utf-8")
    assert original[citation["start"] : citation["end"]] == citation["text"]
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}


@pytest.mark.parametrize(
    ("question", "message"), [("", "empty"), ("  ", "empty"), ("x" * 4001, "limit"), ("?!", "no words")]
)
def test_bad_questions_exit_2_with_a_message_on_stderr(env: dict[str, str], question: str, message: str) -> None:
    result = run(["ask", question, "--json"], env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr and "Traceback" not in result.stderr


def test_index_then_refresh_and_flags_override_env(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["index"], env)
    assert result.returncode == 0 and "built index" in result.stdout
    assert run(["index"], env).stdout.startswith("reused index")
    other = tmp_path / "other-index"
    result = run(["index", "--index", str(other)], env)
    assert result.returncode == 0 and (other / "manifest.json").is_file()
    assert run(["index", "--rebuild"], env).stdout.startswith("built index")


def test_missing_docs_folder_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["ask", "Who signed?", "--docs", str(tmp_path / "missing")], env)
    assert result.returncode == 3
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_ask_off_topic_is_refused(env: dict[str, str]) -> None:
    data = json.loads(run(["ask", "What is the capital of France?", "--json"], env).stdout)
    assert data["refused"] is True and data["citations"] == []


def test_index_storage_and_type_flags_then_ask_keeps_them(env: dict[str, str]) -> None:
    result = run(["index", "--vector-storage", "int8", "--index-type", "hnsw"], env)
    assert result.returncode == 0 and "built index" in result.stdout, result.stderr
    manifest_path = Path(env["RAG_INDEX"]) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert (manifest["vector_storage"], manifest["index_type"]) == ("int8", "hnsw")
    # A later command without the flag keeps the int8 storage ("auto"); the index type "auto" is flat here.
    data = json.loads(run(["ask", "Who signed the KT-Microsoft agreement, and where?", "--json"], env).stdout)
    assert "Nadella" in data["answer"]
    manifest = json.loads(manifest_path.read_text())
    assert (manifest["vector_storage"], manifest["index_type"]) == ("int8", "flat")
    bad = run(["index", "--vector-storage", "int4"], env)
    assert bad.returncode == 2 and "invalid choice: 'int4'" in bad.stderr


def test_rag_index_in_process_leaves_the_skip_warnings_of_later_reads_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # `rag index` names each skipped file once, in its summary, so it quiets the warning logged when one is
    # found; that must last only as long as the command, not for the notebook or server process that ran it.
    from rag.cli import main
    from rag.ingest.documents import load_documents

    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    (docs / "latin1.txt").write_bytes("Caf\xe9 au lait".encode("latin-1"))
    assert main(["index", "--docs", str(docs), "--index", str(tmp_path / "index")]) == 0
    with caplog.at_level("WARNING"):
        load_documents(docs)
    assert "skipped latin1.txt" in caplog.text
