"""LLM answer latency beside the extractive answer, in one run: first token, total, prompt tokens per question.

For every question of ``evals/qa.jsonl`` (or the first ``--questions``), over the seed articles:

- extractive: the default answerer's total time (it has no first token: the whole answer comes at once);
- llamacpp: the packaged SmolLM2 run in-process by llama.cpp (``--answerer llamacpp``), streamed: time to
  the first piece of text, total time, and the prompt's length in tokens (counted with the model's own
  tokenizer), with how many answers verification replaced.

Figures are p50 / p95 in milliseconds. The LLM's speed depends on the cores it gets: run it on an otherwise
idle machine, and report the extractive figures from the same run beside it.

Run with ``python benchmarks/bench_llm.py [--questions N] [--k K]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "evals" / "qa.jsonl").read_text().splitlines() if line]


def _p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="how many questions of the Q&A set")
    parser.add_argument("--k", type=int, default=4, help="passages per question")
    args = parser.parse_args()
    questions = QUESTIONS[: args.questions]

    import rag
    from rag.answer.answerers import build_answerer
    from rag.answer.answerers.llm import LLMAnswerer, build_messages

    with tempfile.TemporaryDirectory() as work:
        bot = rag.load(ROOT / "seeds", Path(work) / "index", progress=False)
        llm = build_answerer(bot.settings.replace(answerer="llamacpp"))
        assert isinstance(llm, LLMAnswerer)
        tokenizer = llm.chat_model.client  # the llama_cpp.Llama instance

        extractive_ms: list[float] = []
        first_ms: list[float] = []
        total_ms: list[float] = []
        prompt_tokens: list[int] = []
        outcomes: dict[str, int] = {}
        bot.ask(questions[0], k=args.k, answerer=llm)  # warm-up: load the weights into the page cache
        for question in questions:
            started = time.perf_counter()
            bot.ask(question, k=args.k)
            extractive_ms.append((time.perf_counter() - started) * 1000)

            passages = bot.retrieve(question, k=args.k)
            messages = build_messages(question, passages, structured=llm.structured)
            text = "\n".join(content for _, content in messages)
            prompt_tokens.append(len(tokenizer.tokenize(text.encode("utf-8"), add_bos=False)))

            started = time.perf_counter()
            first: float | None = None
            answer: rag.Answer | None = None
            for item in bot.stream(question, k=args.k, answerer=llm):
                if isinstance(item, rag.Answer):
                    answer = item
                elif first is None:
                    first = time.perf_counter()
            finished = time.perf_counter()
            total_ms.append((finished - started) * 1000)
            first_ms.append(((first or finished) - started) * 1000)
            assert answer is not None
            outcomes[answer.verification] = outcomes.get(answer.verification, 0) + 1

    rows = [
        ("extractive: total", *_p50_p95(extractive_ms)),
        ("llamacpp (SmolLM2-135M): first token", *_p50_p95(first_ms)),
        ("llamacpp (SmolLM2-135M): total", *_p50_p95(total_ms)),
    ]
    print(f"{len(questions)} questions, k={args.k}, citations={'json' if llm.structured else 'markers'}")
    print(f"{'':40} {'p50 ms':>10} {'p95 ms':>10}")
    for name, p50, p95 in rows:
        print(f"{name:40} {p50:10.1f} {p95:10.1f}")
    print(f"prompt tokens per question: mean {statistics.mean(prompt_tokens):.0f}, max {max(prompt_tokens)}")
    print(f"LLM answers by verification outcome: {dict(sorted(outcomes.items()))}")
    print(f"LLM over extractive, total p50: {rows[2][1] / rows[0][1]:.0f}x")


if __name__ == "__main__":
    main()
