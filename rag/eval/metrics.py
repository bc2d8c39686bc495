"""Measuring a bot on known question/answer pairs: retrieval, answers, citations, refusals, latency.

The Q&A file is JSON Lines, one object per line::

    {"id": "q01", "question": "...", "answers_all": [["Kim Young-shub"], ["Nadella"]],
     "sources": ["000_9e8dd42f31235db3.txt"], "answerable": true}

Metrics (each from 0 to 1 unless stated; "relevant passage" means a passage from one of the item's
``sources`` that contains an alternative of its first answer group):

- ``hit@k``: share of answerable items with a relevant passage among the first k retrieved; ``mrr``: mean
  of 1 / rank of the first relevant passage (0 when none is retrieved).
- ``answer_correct``: share of answerable items whose answer contains, for every group of
  ``answers_all``, at least one alternative (case-insensitive, whitespace folded); a refusal is wrong.
- ``refusal_precision``: share of refusals that were on unanswerable items; ``refusal_recall``: share of
  unanswerable items that were refused.
- ``citation_precision``: share of citations (on answered, answerable items) whose passage is relevant;
  ``citation_recall``: share of correct answers with at least one relevant citation (ALCE's definitions,
  with string evidence in place of an NLI model). ``citation_source_precision``: share of those citations
  that name one of the item's sources, whether or not the cited passage holds the answer (a quote's context
  or a second part's sentence from the right document counts).
- ``grounding``: share of answer sentences (on answered items) that are backed by a cited passage: the
  sentence's text appears in one, or it was flagged supported by the answerer.
- ``latency_p50_ms`` / ``latency_p95_ms``: total time of ``bot.ask``.
- ``page_accuracy``: share of answered, answerable items that list ``"pages"`` (physical, 1-based) with at
  least one citation on one of those pages (of one of the item's ``sources``, when it names any). Reported
  only when some item lists pages.
- ``sentences_per_answer``: mean number of sentences in an answer (on answered items): lower is tighter,
  so long as ``answer_correct`` holds. ``chars_per_answer``: mean characters of an answer's text, the same way.

A metric with no items to measure (``refusal_precision`` when nothing was refused, ``refusal_recall`` with no
unanswerable item) is NaN, printed as "n/a", and left out of thresholds.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.grounding import split_answer_sentences
from rag.answer.types import Answer
from rag.errors import ConfigError
from rag.ingest.chunking import reflow
from rag.retrieve.passages import Passage

__all__ = ["METRIC_NAMES", "EvalResult", "QAItem", "answer_is_correct", "evaluate", "load_qa", "metrics_figure"]

METRIC_NAMES = (
    "hit@1",
    "hit@3",
    "hit@5",
    "mrr",
    "answer_correct",
    "refusal_precision",
    "refusal_recall",
    "citation_precision",
    "citation_source_precision",
    "citation_recall",
    "grounding",
    "latency_p50_ms",
    "latency_p95_ms",
    "sentences_per_answer",
    "chars_per_answer",
    "page_accuracy",
)
LOWER_IS_BETTER = frozenset({"latency_p50_ms", "latency_p95_ms", "sentences_per_answer", "chars_per_answer"})


def format_metric(value: float) -> str:
    """A metric as printed: three decimals, or "n/a" when there was nothing to measure (NaN)."""
    return "n/a" if math.isnan(value) else f"{value:.3f}"


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QAItem:
    """One known question with what a correct answer must contain."""

    id: str
    question: str
    answers_all: tuple[tuple[str, ...], ...]
    sources: tuple[str, ...]
    answerable: bool
    pages: tuple[int, ...] = ()  # the physical pages (1-based) an answer is printed on, for page_accuracy


def load_qa(path: Path | str) -> list[QAItem]:
    """Read and check a Q&A file; every problem is reported with its line number before any work is done.

    Raises:
        ConfigError: The file is missing, or a line is not valid JSON or lacks a field of the right type.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read Q&A file {path}: {exc.strerror or exc}") from exc
    items: list[QAItem] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(_parse_item(line, number))
        except ValueError as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        if items[-1].id in seen:
            problems.append(f"{path}:{number}: duplicate id {items[-1].id!r}")
        seen.add(items[-1].id)
    if problems:
        raise ConfigError("invalid Q&A file:\n" + "\n".join(problems))
    if not items:
        raise ConfigError(f"Q&A file {path} has no items")
    return items


def _parse_item(line: str, number: int) -> QAItem:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise ValueError("each line must be a JSON object")
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("'question' must be a non-empty string")
    answerable = raw.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ValueError("'answerable' must be true or false")
    groups = raw.get("answers_all", [])
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and g and all(isinstance(a, str) and a.strip() for a in g) for g in groups
    ):
        raise ValueError("'answers_all' must be a list of non-empty lists of strings")
    if answerable and not groups:
        raise ValueError("an answerable item needs at least one group in 'answers_all'")
    sources = raw.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ValueError("'sources' must be a list of file names")
    pages = raw.get("pages", [])
    if not isinstance(pages, list) or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in pages):
        raise ValueError("'pages' must be a list of page numbers (1-based)")
    return QAItem(
        id=str(raw.get("id", f"line{number}")),
        question=question,
        answers_all=tuple(tuple(g) for g in groups),
        sources=tuple(sources),
        answerable=answerable,
        pages=tuple(pages),
    )


def _fold(text: str) -> str:
    # Reflowed first, so that a word hyphenated at a PDF's line end matches as the word.
    return " ".join(reflow(text).lower().split())


def answer_is_correct(text: str, answers_all: Sequence[Sequence[str]]) -> bool:
    """True when, for every group, at least one alternative appears in ``text`` (case and spaces folded)."""
    folded = _fold(text)
    return all(any(_fold(alt) in folded for alt in group) for group in answers_all)


def is_relevant(source: str, text: str, item: QAItem) -> bool:
    """A passage is relevant to an item when it comes from one of its sources and holds a first-group answer."""
    if source not in item.sources or not item.answers_all:
        return False
    folded = _fold(text)
    return any(_fold(alt) in folded for alt in item.answers_all[0])


@dataclass
class EvalResult:
    """Metrics of one run, and one record per item.

    Attributes:
        metrics: Metric name -> value (see the module docstring for definitions).
        records: One dict per item: the ``rag ask --json`` object plus ``id``, ``correct`` and ``hit_rank``.
    """

    metrics: dict[str, float]
    records: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        """The metrics as an aligned two-column text table."""
        width = max(len(k) for k in self.metrics)
        return "\n".join(f"{name:<{width}}  {format_metric(value):>8}" for name, value in self.metrics.items())

    def to_frame(self) -> Any:
        """The per-item records as a ``pandas.DataFrame`` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.records)

    def plot(self) -> Any:
        """A matplotlib ``Figure``: bar chart of the 0-to-1 metrics (needs matplotlib). Shows inline in Jupyter."""
        return metrics_figure(self)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{name}</td><td>{format_metric(value)}</td></tr>" for name, value in self.metrics.items()
        )
        return f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"

    def failures(self) -> list[dict[str, Any]]:
        """Records of items answered wrongly: wrong answers, wrong refusals, and unanswerable ones answered."""
        return [r for r in self.records if not r["correct"]]


def _grounded_sentences(answer: Answer) -> tuple[int, int]:
    """Count the answer's sentences and those supported by a cited passage.

    Sentences are split exactly as the grounding check splits them, so ``unsupported_sentences`` match.
    """
    sentences = split_answer_sentences(answer.text)
    unsupported = set(answer.unsupported_sentences)
    cited = [_fold(c.text) for c in answer.citations]
    supported = 0
    for sentence in sentences:
        bare = _fold(re.sub(r"\[\d+\]", "", sentence))
        if sentence in unsupported:
            continue
        if any(bare and bare in passage for passage in cited) or (answer.backend != "extractive" and answer.citations):
            supported += 1
    return supported, len(sentences)


def _cites_a_page(answer: Answer, item: QAItem) -> bool:
    """True when a citation is on one of ``item.pages`` (and from one of its sources, when it names any)."""
    return any(c.page in item.pages and (not item.sources or c.source in item.sources) for c in answer.citations)


def _first_relevant_rank(passages: Iterable[Passage], item: QAItem) -> int | None:
    for passage in passages:
        if is_relevant(passage.source, passage.text, item):
            return passage.rank
    return None


def evaluate(
    bot: Any,
    qa: Path | str | Sequence[QAItem] = "evals/qa.jsonl",
    *,
    k: int | None = None,
    out: Path | str | None = None,
    progress: bool = True,
) -> EvalResult:
    """Ask ``bot`` every question of ``qa`` and compute the metrics.

    Args:
        bot: A ``rag.Bot``.
        qa: A Q&A file path, or items already loaded.
        k: Passages retrieved per question; the bot's ``top_k`` when None.
        out: When given, one JSON line per item is written here as soon as the item is done.
        progress: Show a progress bar.

    Raises:
        ConfigError: The Q&A file is invalid (nothing is asked in that case).

    Example:
        >>> result = rag.evaluate(bot, "evals/qa.jsonl")  # doctest: +SKIP
        >>> print(result.table())  # doctest: +SKIP
    """
    items = list(qa) if not isinstance(qa, (str, Path)) else load_qa(qa)
    known = set(bot.documents)
    for item in items:
        for source in item.sources:
            if source not in known:
                logger.warning("item %s names source %s, which is not indexed", item.id, source)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    sink = open(out, "w", encoding="utf-8") if out is not None else None  # noqa: SIM115 - closed below
    records: list[dict[str, Any]] = []
    try:
        from tqdm.auto import tqdm

        for item in tqdm(items, desc="Evaluating", unit="question", disable=None if progress else True):
            answer = bot.ask(item.question, k=k)
            record = answer.to_dict()
            hit = _first_relevant_rank(answer.passages, item) if item.answerable else None
            if item.answerable:
                correct = not answer.refused and answer_is_correct(answer.text, item.answers_all)
            else:
                correct = answer.refused
            supported, sentences = (0, 0) if answer.refused else _grounded_sentences(answer)
            record.update(
                id=item.id,
                answerable=item.answerable,
                correct=correct,
                hit_rank=hit,
                relevant_citations=sum(is_relevant(c.source, c.text, item) for c in answer.citations),
                right_source_citations=sum(c.source in item.sources for c in answer.citations),
                supported_sentences=supported,
                answer_sentences=sentences,
            )
            if item.pages:
                record.update(pages=list(item.pages), page_hit=_cites_a_page(answer, item))
            records.append(record)
            if sink is not None:
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
    finally:
        if sink is not None:
            sink.close()
    return EvalResult(compute_metrics(records), records)


def compute_metrics(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Aggregate per-item records (as written by ``evaluate``) into the metrics."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    refusals = [r for r in records if r["refused"]]
    ranks = [r["hit_rank"] for r in answerable]
    cited = [r for r in answerable if not r["refused"]]
    n_citations = sum(len(r["citations"]) for r in cited)
    correct = [r for r in answerable if r["correct"]]
    answered = [r for r in records if not r["refused"]]
    sentences = sum(r["answer_sentences"] for r in answered)
    totals = np.array([r["timings_ms"]["total"] for r in records], dtype=float)

    def share(part: float, whole: float) -> float:
        return float(part / whole) if whole else math.nan

    metrics = {
        "hit@1": share(sum(1 for x in ranks if x is not None and x <= 1), len(ranks)),
        "hit@3": share(sum(1 for x in ranks if x is not None and x <= 3), len(ranks)),
        "hit@5": share(sum(1 for x in ranks if x is not None and x <= 5), len(ranks)),
        "mrr": share(sum(1 / x for x in ranks if x is not None), len(ranks)),
        "answer_correct": share(len(correct), len(answerable)),
        "refusal_precision": share(sum(1 for r in refusals if not r["answerable"]), len(refusals)),
        "refusal_recall": share(sum(1 for r in unanswerable if r["refused"]), len(unanswerable)),
        "citation_precision": share(sum(r["relevant_citations"] for r in cited), n_citations),
        # Records written before this metric existed lack the count: they are left out of it.
        "citation_source_precision": share(
            sum(r.get("right_source_citations", 0) for r in cited),
            sum(len(r["citations"]) for r in cited if "right_source_citations" in r),
        ),
        "citation_recall": share(sum(1 for r in correct if r["relevant_citations"] > 0), len(correct)),
        "grounding": share(sum(r["supported_sentences"] for r in answered), sentences),
        "latency_p50_ms": float(np.percentile(totals, 50)) if len(totals) else 0.0,
        "latency_p95_ms": float(np.percentile(totals, 95)) if len(totals) else 0.0,
        "sentences_per_answer": share(sentences, len(answered)),
        "chars_per_answer": share(sum(len(r.get("answer", "")) for r in answered), len(answered)),
    }
    paged = [r for r in answerable if "pages" in r and not r["refused"]]
    if any("pages" in r for r in records):
        metrics["page_accuracy"] = share(sum(1 for r in paged if r["page_hit"]), len(paged))
    return metrics


def threshold_failures(
    metrics: dict[str, float], minimums: dict[str, float], maximums: dict[str, float] | None = None
) -> list[str]:
    """One line per metric under its minimum or over its maximum.

    A metric that is n/a (NaN) never fails; one the run did not measure at all (``page_accuracy`` when no
    item lists pages) does, since a threshold on it means the Q&A file was expected to have what it lacks.
    """
    missing = [
        f"{m} was not measured (no item of the Q&A file has what it needs)"
        for m in {**minimums, **(maximums or {})}
        if m not in metrics
    ]
    failed = [f"{m} = {metrics[m]:.3f} < {v}" for m, v in minimums.items() if m in metrics and metrics[m] < v]
    failed += [f"{m} = {metrics[m]:.3f} > {v}" for m, v in (maximums or {}).items() if m in metrics and metrics[m] > v]
    return missing + failed


_LATENCY = ("latency_p50_ms", "latency_p95_ms")


def metrics_figure(result: EvalResult) -> Any:
    """A matplotlib bar chart of the metrics that range from 0 to 1 (latencies left out)."""
    from matplotlib.figure import Figure

    # Sentences per answer is a count, not a share; a metric with nothing to measure (NaN) has no bar.
    names = [k for k, v in result.metrics.items() if k not in _LATENCY and k != "sentences_per_answer" and v == v]
    figure = Figure(figsize=(8, 3.6))
    axis = figure.subplots()
    bars = axis.bar(names, [result.metrics[k] for k in names], color="#4f46e5")
    axis.bar_label(bars, fmt="%.2f", fontsize=8)
    axis.set_ylim(0, 1.1)
    axis.set_ylabel("score")
    axis.set_title("Metrics")
    axis.tick_params(axis="x", rotation=40, labelsize=8)
    return figure
