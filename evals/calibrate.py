"""Sweep the extractive answerer's threshold and weights over evals/qa.jsonl and print the best settings.

Run with ``python evals/calibrate.py``. It retrieves once per question, then re-scores the same passages
with each parameter set, so the sweep takes seconds. The objective is answer correctness on answerable
questions plus refusal recall on unanswerable ones (both from 0 to 1).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path

import rag
from rag.answerers.extractive import ExtractiveAnswerer
from rag.evaluate import answer_is_correct


def main() -> None:
    """Run the sweep and print the best parameter sets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qa", type=Path, default=Path(__file__).with_name("qa.jsonl"))
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    items = [json.loads(line) for line in args.qa.read_text().splitlines() if line.strip()]
    bot = rag.load(progress=False)
    retrieved = [(item, bot.retrieve(item["question"])) for item in items]
    results = []
    grid = itertools.product([0.6, 0.75, 0.9], [0.0, 0.1], [0.2, 0.3, 0.4], [0.0, 0.1], [0.03, 0.06, 0.1], [0.1, 0.2])
    for sentence_w, passage_w, overlap_w, passage_overlap_w, margin, coverage_margin in grid:
        base = ExtractiveAnswerer(
            min_score=-1.0,
            sentence_weight=sentence_w,
            passage_weight=passage_w,
            overlap_weight=overlap_w,
            passage_overlap_weight=passage_overlap_w,
            margin=margin,
            coverage_margin=coverage_margin,
        )
        ranked = [(item, passages, base.rank(passages)) for item, passages in retrieved]
        for step in range(25, 66):
            threshold = step / 100
            answerer = ExtractiveAnswerer(**{**base.__dict__, "min_score": threshold})
            correct = refused = answerable = unanswerable = 0
            for item, passages, ranking in ranked:
                top = ranking[0][0] if ranking else -1.0
                if item["answerable"]:
                    answerable += 1
                    if top >= threshold:
                        text = answerer.answer(item["question"], passages).text
                        correct += answer_is_correct(text, item["answers_all"])
                else:
                    unanswerable += 1
                    refused += top < threshold
            accuracy, recall = correct / answerable, refused / unanswerable
            results.append((accuracy + recall, accuracy, recall, threshold, base))
    results.sort(key=lambda r: -r[0])
    print(
        f"{'objective':>9} {'correct':>7} {'refusal':>7} {'min_score':>9} "
        "  weights (sentence, passage, overlap, passage overlap, margins)"
    )
    for objective, accuracy, recall, threshold, a in results[: args.top]:
        print(
            f"{objective:9.3f} {accuracy:7.3f} {recall:7.3f} {threshold:9.2f}  "
            f"{a.sentence_weight}, {a.passage_weight}, {a.overlap_weight}, {a.passage_overlap_weight}, "
            f"{a.margin}, {a.coverage_margin}"
        )


if __name__ == "__main__":
    main()
