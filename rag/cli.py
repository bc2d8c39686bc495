"""The ``rag`` command: ``rag index``, ``rag ask``, ``rag eval`` and ``rag serve``.

Flags override ``RAG_*`` environment variables, which override the defaults in ``rag.config``. Logs and
progress bars go to stderr, so ``rag ask --json`` prints exactly one JSON object on stdout. Exit codes:
0 success, 1 a metric under its ``--min`` threshold, 2 bad input or configuration, 3 an index or document
problem.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rag.config import Settings
from rag.errors import ConfigError, DocumentError, QuestionError, RagError

__all__ = ["main"]

logger = logging.getLogger("rag")

EXIT_BAD_INPUT = 2
EXIT_INDEX_ERROR = 3


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docs", type=Path, help="folder of .txt/.md documents (env RAG_DOCS; default seeds/)")
    parser.add_argument("--index", type=Path, help="index folder (env RAG_INDEX; default index/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens, step by step")
    parser.add_argument("-q", "--quiet", action="store_true", help="log errors only, no progress bars")


def _answering(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", "--top-k", type=int, dest="top_k", help="passages to retrieve")
    parser.add_argument("--answerer", help="answerer backend (env RAG_ANSWERER; default extractive)")
    parser.add_argument("--model", help="LLM model name for LLM answerers (env RAG_MODEL)")
    parser.add_argument("--retrieval", choices=["dense", "hybrid"], help="retrieval mode (default hybrid)")
    parser.add_argument(
        "--verify",
        choices=["strict", "flag", "off"],
        help="what to do with an LLM answer no cited passage supports (env RAG_VERIFY; default strict: replace it)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Answer questions about your documents, with citations.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="build or refresh the index of the docs folder")
    _common(index)
    index.add_argument("--rebuild", action="store_true", help="re-embed everything even if up to date")
    index.add_argument(
        "--index-type", choices=["auto", "flat", "hnsw"], help="FAISS index type (env RAG_INDEX_TYPE; default auto)"
    )
    index.add_argument(
        "--vector-storage",
        choices=["auto", "float32", "int8"],
        help="float32, or int8 codes: a quarter of the size (env RAG_VECTOR_STORAGE; default auto: as the index has)",
    )

    ask = commands.add_parser("ask", help="answer a question from the documents")
    _common(ask)
    _answering(ask)
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")

    evaluate = commands.add_parser("eval", help="run the Q&A suite and print its metrics")
    _common(evaluate)
    _answering(evaluate)
    evaluate.add_argument("--qa", type=Path, default=Path("evals/qa.jsonl"), help="Q&A file (JSON Lines)")
    evaluate.add_argument("--out", type=Path, help="write one JSON record per question to this file")
    evaluate.add_argument("--report", type=Path, metavar="DIR", help="write report.md and report.html into DIR")
    evaluate.add_argument(
        "--compare", nargs=2, type=Path, metavar=("A.jsonl", "B.jsonl"), help="compare two --out files and exit"
    )
    evaluate.add_argument(
        "--min",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="fail (exit 1) when METRIC is under VALUE; repeatable",
    )

    serve = commands.add_parser("serve", help="open the web chat")
    _common(serve)
    _answering(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument(
        "--concurrency",
        type=int,
        dest="chat_concurrency",
        help="questions answered at once; more wait in the queue (env RAG_CHAT_CONCURRENCY; default 16)",
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        docs_dir=args.docs,
        index_dir=args.index,
        top_k=getattr(args, "top_k", None),
        answerer=getattr(args, "answerer", None),
        model=getattr(args, "model", None),
        retrieval=getattr(args, "retrieval", None),
        index_type=getattr(args, "index_type", None),
        vector_storage=getattr(args, "vector_storage", None),
        chat_concurrency=getattr(args, "chat_concurrency", None),
        verify=getattr(args, "verify", None),
    )


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        # Libraries below us are chatty at INFO; our own progress lines stay visible.
        logging.getLogger("rag").setLevel(logging.ERROR if args.quiet else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    try:
        return _run(args)
    except (QuestionError, ConfigError) as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DocumentError, RagError) as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return EXIT_INDEX_ERROR
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    import rag

    settings = _settings(args)
    progress = not args.quiet
    if args.command == "ask":
        # Check the question before loading anything, so a typo costs no model load.
        from rag.pipeline import validate_question

        validate_question(args.question, settings.max_question_chars)
        bot = rag.load(settings=settings, progress=progress)
        answer = bot.ask(args.question)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            print(answer)
        return 0
    if args.command == "index":
        from rag.pipeline import open_index

        _, _, report = open_index(settings, rebuild=args.rebuild, progress=progress)
        print(report.summary())
        return 0
    if args.command == "eval":
        thresholds = _parse_thresholds(args.min)
        from rag.evaluate import evaluate, load_qa
        from rag.report import compare_runs, read_records, write_report

        if args.compare:
            a, b = args.compare
            print(compare_runs(read_records(a), read_records(b), (a.stem, b.stem)))
            return 0
        items = load_qa(args.qa)  # fail on a malformed file before loading the model
        bot = rag.load(settings=settings, progress=progress)
        result = evaluate(bot, items, out=args.out, progress=progress)
        print(result.table())
        if args.report:
            for path in write_report(result, args.report, f"rag evaluation: {args.qa.name}, {bot.answerer.name}"):
                logger.info("wrote %s", path)
        failed = [f"{m} = {result.metrics[m]:.3f} < {v}" for m, v in thresholds.items() if result.metrics[m] < v]
        for line in failed:
            print(f"rag: below threshold: {line}", file=sys.stderr)
        return 1 if failed else 0
    if args.command == "serve":
        try:
            from ui.app import serve
        except ImportError as exc:
            raise ConfigError(f"the web chat needs gradio ({exc}); run: pip install 'rag[ui]'") from None
        serve(settings, host=args.host, port=args.port)
        return 0
    raise ConfigError(f"unknown command {args.command}")


def _parse_thresholds(specs: Sequence[str]) -> dict[str, float]:
    from rag.evaluate import METRIC_NAMES

    thresholds: dict[str, float] = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        if name not in METRIC_NAMES:
            raise ConfigError(f"unknown metric {name!r} in --min; known: {', '.join(METRIC_NAMES)}")
        try:
            thresholds[name] = float(value)
        except ValueError:
            raise ConfigError(f"--min {spec!r}: the value must be a number") from None
    return thresholds


if __name__ == "__main__":
    sys.exit(main())
