"""The eval suite: the Q&A file, the metric definitions, and `rag eval` end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rag
from rag.eval.metrics import answer_is_correct, compute_metrics, load_qa
from tests.conftest import ROOT, SEEDS

QA = ROOT / "evals" / "qa.jsonl"


def test_the_project_qa_file_has_the_promised_shape() -> None:
    items = load_qa(QA)
    assert len(items) >= 45
    assert sum(not i.answerable for i in items) >= 10
    assert sum(1 for i in items if len(i.answers_all) >= 2 or len(i.sources) >= 2) >= 8
    for item in items:
        if item.answerable:
            texts = [(SEEDS / s).read_text(encoding="utf-8").lower() for s in item.sources]
            for group in item.answers_all:
                assert any(alt.lower() in t for alt in group for t in texts), (item.id, group)
        else:
            assert item.answers_all == () and item.sources == ()


def test_answer_correctness_needs_one_alternative_of_every_group() -> None:
    groups = [["Kim Young-shub"], ["Nadella", "Satya"]]
    assert answer_is_correct("KIM   young-shub met Satya.", groups)
    assert not answer_is_correct("Kim Young-shub signed.", groups)


def _record(
    answerable: bool, refused: bool, correct: bool, hit: int | None, cites: int, relevant: int, right_source: int = 0
) -> dict[str, Any]:
    return {
        "answerable": answerable,
        "refused": refused,
        "correct": correct,
        "hit_rank": hit,
        "answer": "" if refused else "x" * 100,
        "citations": [{}] * cites,
        "relevant_citations": relevant,
        "right_source_citations": right_source,
        "supported_sentences": 0 if refused else 1,
        "answer_sentences": 0 if refused else 1,
        "timings_ms": {"total": 10.0},
    }


def test_metrics_follow_their_definitions() -> None:
    records = [
        _record(True, False, True, 1, 2, 1, 2),  # correct, relevant passage first, one of two citations relevant
        _record(True, False, False, 3, 1, 0, 1),  # wrong answer (from the right document), relevant passage third
        _record(True, True, False, None, 0, 0),  # wrongly refused, nothing relevant retrieved
        _record(False, True, True, None, 0, 0),  # rightly refused
        _record(False, False, False, None, 1, 0),  # answered an unanswerable question
    ]
    m = compute_metrics(records)
    assert m["hit@1"] == pytest.approx(1 / 3) and m["hit@3"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3) / 3)
    assert m["answer_correct"] == pytest.approx(1 / 3)
    assert m["refusal_precision"] == pytest.approx(1 / 2) and m["refusal_recall"] == pytest.approx(1 / 2)
    assert m["citation_precision"] == pytest.approx(1 / 3)  # 1 relevant of 3 citations on answered answerable items
    assert m["citation_source_precision"] == pytest.approx(1.0)  # every citation names one of the item's sources
    assert m["chars_per_answer"] == pytest.approx(100.0)  # on answered items
    assert m["citation_recall"] == pytest.approx(1.0)
    assert m["grounding"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"id": "x"}', "'question' must be a non-empty string"),
        ('{"question": "q", "answers_all": "Redmond"}', "'answers_all' must be a list"),
        ('{"question": "q", "answers_all": [["a"]], "answerable": "yes"}', "'answerable' must be true or false"),
        ('{"question": "q", "answers_all": []}', "needs at least one group"),
    ],
)
def test_malformed_lines_are_reported_with_their_line_number(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "fine", "answers_all": [["x"]]}\n' + line + "\n")
    with pytest.raises(rag.ConfigError, match=rf"qa.jsonl:2: .*{message}"):
        load_qa(path)


def test_evaluate_from_python_returns_a_table_and_frame(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shutil.copytree(SEEDS, tmp_path / "docs")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "\n".join(QA.read_text().splitlines()[:3])
        + '\n{"id": "ghost", "question": "Who signed?", "answers_all": [["Nadella"]], "sources": ["ghost.txt"]}\n'
    )
    result = rag.evaluate(bot, qa, progress=False)
    assert "ghost.txt" in caplog.text
    assert result.metrics["answer_correct"] >= 0.5 and "answer_correct" in result.table()
    frame = result.to_frame()
    assert list(frame["id"]) == ["q01", "q02", "q03", "ghost"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    shutil.copytree(SEEDS, tmp_path / "docs")
    return {**os.environ, "RAG_DOCS": str(tmp_path / "docs"), "RAG_INDEX": str(tmp_path / "index")}


def rag_eval(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "eval", "-q", *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_rag_eval_writes_records_report_and_compares_runs(env: dict[str, str], tmp_path: Path) -> None:
    dense, hybrid, report = tmp_path / "dense.jsonl", tmp_path / "hybrid.jsonl", tmp_path / "report"
    result = rag_eval(["--out", str(hybrid), "--report", str(report), "--min", "answer_correct=0.7"], env)
    assert result.returncode == 0, result.stderr
    assert "answer_correct" in result.stdout and "refusal_recall" in result.stdout
    records = [json.loads(line) for line in hybrid.read_text().splitlines()]
    assert len(records) == len(load_qa(QA))
    assert {"id", "question", "answer", "refused", "backend", "notice", "citations", "timings_ms"} <= set(records[0])
    page = (report / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Failed items" in page
    assert 'src="http' not in page and 'href="http' not in page, "the report is self-contained"
    assert "| answer_correct |" in (report / "report.md").read_text()

    assert rag_eval(["--out", str(dense), "--retrieval", "dense"], env).returncode == 0
    compared = rag_eval(["--compare", str(dense), str(hybrid)], env)
    assert compared.returncode == 0
    assert "delta" in compared.stdout and "mrr" in compared.stdout and "changed outcome" in compared.stdout


def test_rag_eval_fails_under_a_threshold_and_on_a_bad_file(env: dict[str, str], tmp_path: Path) -> None:
    result = rag_eval(["--min", "answer_correct=0.99"], env)
    assert result.returncode == 1 and "below threshold: answer_correct" in result.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok", "answers_all": [["x"]]}\n{"question": 3}\n')
    result = rag_eval(["--qa", str(bad)], env)
    assert result.returncode == 2 and "bad.jsonl:2" in result.stderr
    result = rag_eval(["--min", "accuracy=0.5"], env)
    assert result.returncode == 2 and "unknown metric" in result.stderr
