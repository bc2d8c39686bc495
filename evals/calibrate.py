"""Sweep the extractive answerer's threshold and weights on the calibration set; report them on the held-out one.

Run with ``python evals/calibrate.py``. The sweep chooses on ``evals/qa.jsonl`` only (``--qa``); the
held-out set ``evals/heldout.jsonl`` (``--heldout``, written independently of it) is scored for the chosen
settings but never chooses, so its figure says how the settings do on questions they were not fitted to.

It retrieves once per question, then re-answers the same passages with each parameter set, so the sweep
takes seconds. The objective is answer correctness on answerable questions plus refusal recall on
unanswerable ones (both from 0 to 1); ties go to fewer quoted sentences per answer.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import rag
from rag.answer.answerers.extractive import ExtractiveAnswerer
from rag.answer.grounding import split_answer_sentences
from rag.eval.metrics import answer_is_correct
from rag.retrieve.passages import Passages

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Score:
    """How one parameter set does on one set of questions."""

    correct: float
    refusal_recall: float
    sentences_per_answer: float

    @property
    def objective(self) -> float:
        """What the sweep maximises: correctness plus refusal recall."""
        return self.correct + self.refusal_recall


def score(answerer: ExtractiveAnswerer, retrieved: list[tuple[dict[str, Any], Passages]]) -> Score:
    """Answer every retrieved question with ``answerer`` and score the answers."""
    correct = refused = answerable = unanswerable = sentences = answered = 0
    for item, passages in retrieved:
        answer = answerer.answer(item["question"], passages)
        if item["answerable"]:
            answerable += 1
            correct += not answer.refused and answer_is_correct(answer.text, item["answers_all"])
        else:
            unanswerable += 1
            refused += answer.refused
        if not answer.refused:
            answered += 1
            sentences += len(split_answer_sentences(answer.text))
    return Score(
        correct / max(answerable, 1), refused / max(unanswerable, 1), sentences / answered if answered else 0.0
    )


def main() -> None:
    """Run the sweep on the calibration set and print the best parameter sets with their held-out scores."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qa", type=Path, default=HERE / "qa.jsonl", help="calibration set (chooses)")
    parser.add_argument("--heldout", type=Path, default=HERE / "heldout.jsonl", help="held-out set (reported)")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bot = rag.load(progress=False)

    def retrieve(path: Path) -> list[tuple[dict[str, Any], Passages]]:
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [(item, bot.retrieve(item["question"])) for item in items]

    calibration, held_out = retrieve(args.qa), retrieve(args.heldout)
    grid = itertools.product([0.45, 0.6, 0.75, 0.9], [0.1, 0.2, 0.3], [0.0, 0.1], [0.1, 0.15, 0.2], [0.05, 0.1])
    results: list[tuple[Score, ExtractiveAnswerer]] = []
    for sentence_w, overlap_w, passage_overlap_w, coverage_margin, min_gain in grid:
        base = ExtractiveAnswerer(
            sentence_weight=sentence_w,
            overlap_weight=overlap_w,
            passage_overlap_weight=passage_overlap_w,
            coverage_margin=coverage_margin,
            min_gain=min_gain,
        )
        for step in range(30, 56, 2):
            answerer = replace(base, min_score=step / 100)
            results.append((score(answerer, calibration), answerer))
    results.sort(key=lambda r: (-r[0].objective, r[0].sentences_per_answer))
    print("calibration set chooses; held-out set reports (correct / refusal recall / sentences per answer)")
    print(f"{'calibration':>20}  {'held-out':>20}  min_score  sentence, passage overlap, overlap, margin, gain")
    for mine, a in results[: args.top]:
        other = score(a, held_out)
        print(
            f"{mine.correct:6.3f} {mine.refusal_recall:6.3f} {mine.sentences_per_answer:5.2f}  "
            f"{other.correct:6.3f} {other.refusal_recall:6.3f} {other.sentences_per_answer:5.2f}  "
            f"{a.min_score:9.2f}  {a.sentence_weight}, {a.passage_overlap_weight}, {a.overlap_weight}, "
            f"{a.coverage_margin}, {a.min_gain}"
        )


if __name__ == "__main__":
    main()
