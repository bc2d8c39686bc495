"""The ``rag`` command: ``rag index``, ``ask``, ``chat``, ``docs``, ``eval``, ``serve``, ``mcp`` and ``users``.

Flags override ``RAG_*`` environment variables, which override the defaults in ``rag.config``. Logs and
progress bars go to stderr, so ``rag ask --json`` prints exactly one JSON object on stdout. Exit codes:
0 success, 1 a metric under its ``--min`` threshold, 2 bad input or configuration, 3 an index or document
problem.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from rag.config import Settings
from rag.errors import ConfigError, DocumentError, QuestionError, RagError
from rag.ingest.readers import formats_text

__all__ = ["main"]

logger = logging.getLogger("rag")

EXIT_BAD_INPUT = 2
EXIT_INDEX_ERROR = 3


def _common(parser: argparse.ArgumentParser, *, collection: bool = True) -> None:
    parser.add_argument(
        "--docs", type=Path, help=f"folder of documents: {formats_text()} (env RAG_DOCS; default seeds/)"
    )
    parser.add_argument("--index", type=Path, help="index folder (env RAG_INDEX; default index/)")
    if collection:
        parser.add_argument(
            "--collection",
            metavar="NAME",
            help="a collection of `rag collections` (its own docs and index); default: the corpus of --docs",
        )
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

    index = commands.add_parser(
        "index",
        help="build or refresh the index of the docs folder",
        description=f"Build or refresh the index of the docs folder. Formats read: {formats_text()}.",
    )
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
    index.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="embed on Ray: a local Ray without ADDRESS, else the cluster at ADDRESS (ray://host:10001 or auto)",
    )
    index.add_argument("--ray-actors", type=int, metavar="N", help="embedding actors on Ray (default: its CPUs)")

    ask = commands.add_parser("ask", help="answer a question from the documents")
    _common(ask)
    _answering(ask)
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    ask.add_argument(
        "--source",
        action="append",
        dest="sources",
        metavar="NAME",
        help="answer only from this document (name or glob pattern such as 'reports/*.md'); repeatable",
    )

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
    evaluate.add_argument(
        "--max",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="fail (exit 1) when METRIC is over VALUE (e.g. sentences_per_answer); repeatable",
    )

    chat = commands.add_parser("chat", help="ask questions in the terminal, with follow-ups and /sources")
    _common(chat)
    _answering(chat)

    mcp = commands.add_parser("mcp", help="serve the documents as MCP tools over stdio (for Claude Desktop, Cursor...)")
    _common(mcp)
    _answering(mcp)

    serve = commands.add_parser("serve", help="open the web chat")
    _common(serve, collection=False)
    _answering(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument(
        "--concurrency",
        type=int,
        dest="chat_concurrency",
        help="questions answered at once; more wait in the queue (env RAG_CHAT_CONCURRENCY; default 16)",
    )
    _users_file(serve)
    serve.add_argument(
        "--no-auth", action="store_true", help="serve without accounts even if a users file exists, on any host"
    )
    serve.add_argument(
        "--rate-limit",
        type=int,
        dest="chat_rate_limit",
        help="questions per minute per user, 0 for none (env RAG_CHAT_RATE_LIMIT; default 30)",
    )
    _users_parser(commands)
    feedback = commands.add_parser("feedback", help="ratings given to answers in the web chat")
    feedback_actions = feedback.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    export = feedback_actions.add_parser(
        "export", help="every rating with its question, answer, citations and an eval item (oldest first)"
    )
    export.add_argument("--json", action="store_true", help="one JSON array (default: one line per rating)")
    export.add_argument("--user", help="only this user's ratings")
    _common(export)
    _users_file(export)
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N chat processes behind HAProxy on --host/--port (share one index: RAG_VECTOR_BACKEND=postgres)",
    )
    serve.add_argument(
        "--no-watch",
        action="store_false",
        dest="watch_docs",
        default=None,
        help="do not follow the docs folder for added, changed or removed files (env RAG_WATCH=0)",
    )
    _network_flags(serve)
    _docs_parser(commands)
    _collections_parser(commands)
    return parser


def _network_flags(serve: argparse.ArgumentParser) -> None:
    """How ``rag serve`` faces the network (``server.options``); each flag repeatable, each with a variable."""
    serve.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        metavar="NAME",
        help="a host name this server answers to besides localhost, IP addresses and this machine's name; "
        "'*.example.org' for a domain (env RAG_ALLOWED_HOSTS, comma-separated)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        metavar="ADDR",
        help="address or network of the reverse proxy in front: only it may pass on the client's address "
        "(X-Forwarded-For) and scheme (env RAG_TRUSTED_PROXIES)",
    )
    serve.add_argument(
        "--https-proxy",
        action="store_true",
        default=None,
        help="TLS ends at a proxy in front: send cookies as Secure (env RAG_HTTPS_PROXY=1)",
    )
    serve.add_argument(
        "--chat-answerer",
        action="append",
        dest="chat_answerers",
        metavar="NAME[:MODEL]",
        help="an answerer the chat's users may pick besides the server's own, e.g. openai:gpt-4o-mini "
        "(env RAG_CHAT_ANSWERERS, comma-separated); nothing else can be picked",
    )


def _users_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--users", type=Path, dest="users_file", metavar="FILE", help="accounts file (env RAG_USERS_FILE; users.json)"
    )


def _users_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rag users add|list|remove|passwd|token|revoke-token``: accounts for ``rag serve``."""
    users = commands.add_parser("users", help="manage the accounts of the web chat and API")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user (the password is prompted for)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["reader", "editor", "admin"], help="what the user may do")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin, not a prompt")
    add.add_argument(
        "--group",
        action="append",
        dest="groups",
        metavar="G",
        help="a group the user is in (collections are granted to groups); repeatable",
    )
    groups = actions.add_parser("groups", help="set the groups a user is in (none: leave the list empty)")
    groups.add_argument("name")
    groups.add_argument("groups", nargs="*", metavar="G")
    passwd = actions.add_parser("passwd", help="change a user's password (signs them out everywhere)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin, not a prompt")
    for action, text in [
        ("remove", "remove a user (signs them out, revokes their token)"),
        ("token", "print a new API token for a user (replaces the old one)"),
        ("revoke-token", "revoke a user's API token"),
    ]:
        actions.add_parser(action, help=text).add_argument("name")
    actions.choices["token"].add_argument(
        "--expires",
        metavar="DURATION",
        help="how long the token works: 90d, 12h, 30m or 45s (default: until revoked)",
    )
    actions.add_parser("list", help="list users, roles and who has a token (with its expiry)")
    for parser in actions.choices.values():
        _users_file(parser)
        parser.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)


def _collections_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rag collections add|list|remove|grant|revoke|restrict|open``: named document sets and who reads them."""
    collections = commands.add_parser("collections", help="named document sets, each with its own index and readers")
    actions = collections.add_subparsers(dest="collections_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register a collection over a docs folder of its own")
    add.add_argument("name")
    add.add_argument("--docs", type=Path, required=True, dest="collection_docs", help="the collection's docs folder")
    listing = actions.add_parser("list", help="every collection, its docs folder and who may read it")
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    actions.add_parser("remove", help="forget a collection (its files and index stay on disk)").add_argument("name")
    for action, text in [("grant", "let a group or a user read a collection"), ("revoke", "take a grant back")]:
        change = actions.add_parser(action, help=text)
        change.add_argument("name")
        who = change.add_mutually_exclusive_group(required=True)
        who.add_argument("--group", help="a group of `rag users add --group`")
        who.add_argument("--user", help="a user name")
    actions.add_parser("restrict", help="close default to everyone not granted it").add_argument("name")
    actions.add_parser("open", help="open default to every signed-in user again").add_argument("name")
    for parser in actions.choices.values():
        _users_file(parser)
        parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
        parser.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)


def _docs_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    docs = commands.add_parser("docs", help="list, show, remove or re-index the documents")
    actions = docs.add_subparsers(dest="docs_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="each document's type, size, pages, chunks, when indexed, status")
    _common(listing)
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    show = actions.add_parser("show", help="a document's metadata and extracted text")
    _common(show)
    show.add_argument("name", help="the document's name, as 'rag docs list' shows it")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    remove = actions.add_parser("remove", help="delete documents from the docs folder and the index")
    _common(remove)
    remove.add_argument("names", nargs="+", metavar="NAME")
    reindex = actions.add_parser("reindex", help="read and embed documents again")
    _common(reindex)
    reindex.add_argument("names", nargs="+", metavar="NAME")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        docs_dir=getattr(args, "docs", None),
        index_dir=getattr(args, "index", None),
        top_k=getattr(args, "top_k", None),
        answerer=getattr(args, "answerer", None),
        model=getattr(args, "model", None),
        retrieval=getattr(args, "retrieval", None),
        index_type=getattr(args, "index_type", None),
        vector_storage=getattr(args, "vector_storage", None),
        chat_concurrency=getattr(args, "chat_concurrency", None),
        users_file=getattr(args, "users_file", None),
        chat_rate_limit=getattr(args, "chat_rate_limit", None),
        watch_docs=getattr(args, "watch_docs", None),
        verify=getattr(args, "verify", None),
    )


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        # Libraries below us are chatty at INFO; our own progress lines stay visible.
        logging.getLogger("rag").setLevel(logging.ERROR if args.quiet else logging.INFO)


@contextlib.contextmanager
def _ctrl_c_also_cancels() -> Iterator[threading.Event]:
    """Ctrl-C raises KeyboardInterrupt as always, and also sets the event that indexing checks between steps.

    Python swallows a KeyboardInterrupt raised while a finalizer runs (it prints "Exception ignored in ..."),
    and a garbage collection can run one at any moment: the run went on to the end and exited 0. The event
    stops it at the next step all the same.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield stop
        return

    def interrupted(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _summary_only() -> Iterator[None]:
    """While ``rag index`` runs, quiet the log lines its printed summary repeats; as they were afterwards.

    The summary is the command's output: the same line logged on stderr would print it twice. It also ends
    with every skipped file and why, so the warning logged when one is found would name it twice. The
    change must not outlive the command: ``main`` also runs inside notebooks, servers and tests.
    """
    from rag.indexing.faiss import SUMMARY_LOGGER

    summary, documents = logging.getLogger(SUMMARY_LOGGER), logging.getLogger("rag.ingest.documents")
    level = summary.level

    def not_a_skip(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("skipped ")

    summary.setLevel(logging.WARNING)
    documents.addFilter(not_a_skip)
    try:
        yield
    finally:
        documents.removeFilter(not_a_skip)
        summary.setLevel(level)


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
        kept = " (the files indexed so far are kept: run it again to continue)" if args.command == "index" else ""
        print(f"rag: interrupted{kept}", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    import rag

    settings = _settings(args)
    if args.command == "collections":
        from rag.cli.collections import run_collections

        return run_collections(args, settings)
    if getattr(args, "collection", None):
        from rag.bot.load import collection_settings

        settings = collection_settings(settings, args.collection, docs_given=args.docs is not None)
    progress = not args.quiet
    if args.command == "ask":
        # Check the question before loading anything, so a typo costs no model load.
        from rag.bot.questions import validate_question

        validate_question(args.question, settings.max_question_chars)
        bot = rag.load(settings=settings, progress=progress)
        answer = bot.ask(args.question, sources=args.sources)
        if args.json:
            from rag.answer.wire import ask_json

            print(json.dumps(ask_json(answer), ensure_ascii=False))
        else:
            from rag.cli.format import format_answer

            print(format_answer(answer, verbose=args.verbose))
        return 0
    if args.command == "index" and args.ray is not None:
        from rag.indexing.ray import index_with_ray

        _, report = index_with_ray(
            settings, args.ray or None, rebuild=args.rebuild, progress=progress, actors=args.ray_actors
        )
        print(report.summary())
        return 0
    if args.command == "index":
        from rag.bot.load import open_index
        from rag.indexing.faiss import IndexCancelled

        with _ctrl_c_also_cancels() as stop, _summary_only():
            try:
                _, _, report = open_index(settings, rebuild=args.rebuild, progress=progress, cancel=stop)
            except IndexCancelled:
                raise KeyboardInterrupt from None  # reported as any Ctrl-C: exit 130, finished files kept
        print(report.summary())
        return 0
    if args.command == "eval":
        thresholds = _parse_thresholds(args.min)
        from rag.eval.metrics import evaluate, load_qa
        from rag.eval.report import compare_runs, read_records, write_report

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
        from rag.eval.metrics import threshold_failures

        failed = threshold_failures(result.metrics, thresholds, _parse_thresholds(args.max))
        for line in failed:
            print(f"rag: below threshold: {line}", file=sys.stderr)
        return 1 if failed else 0
    if args.command == "chat":
        from rag.cli.chat import run_chat

        return run_chat(rag.load(settings=settings, progress=progress))
    if args.command == "mcp":
        try:
            from server.mcp_tools import serve_stdio
        except ImportError as exc:
            raise ConfigError(f"rag mcp needs the MCP SDK ({exc}); run: pip install 'rag[mcp]'") from None
        # stdout carries the protocol: logs and progress bars go to stderr, as for every command.
        serve_stdio(rag.load(settings=settings, progress=progress))
        return 0
    if args.command == "docs":
        from rag.cli.docs import run_docs

        return run_docs(args, settings, progress)
    if args.command == "serve":
        # Refuse an exposed start or damaged state before anything heavy loads (server.startup imports little).
        from server.options import ServeOptions
        from server.startup import check_serving

        options = ServeOptions.from_env(
            allowed_hosts=args.allowed_hosts,
            trusted_proxies=args.trusted_proxies,
            https_proxy=args.https_proxy,
            chat_answerers=args.chat_answerers,
        )
        check_serving(args.host, settings, no_auth=args.no_auth)
        if args.workers:
            return _serve_workers(args, options.as_flags())
        try:
            from server.app import serve
        except ImportError as exc:
            raise ConfigError(f"the web chat needs gradio ({exc}); run: pip install 'rag[ui]'") from None
        serve(settings, host=args.host, port=args.port, no_auth=args.no_auth, options=options)
        return 0
    if args.command == "feedback":
        from server.feedback import export_feedback

        return export_feedback(settings, user=args.user, as_json=args.json)
    if args.command == "users":
        from server.users_cli import run_users_command

        return run_users_command(args, settings.users_file)
    raise ConfigError(f"unknown command {args.command}")


def _serve_workers(args: argparse.Namespace, network_flags: list[str]) -> int:
    """``rag serve --workers N``: N processes of ``rag serve`` with the same flags, behind HAProxy."""
    try:
        from server.workers import WorkersError, serve_workers
    except ImportError as exc:
        raise ConfigError(f"rag serve --workers needs the server package ({exc})") from None
    flags = {"--docs": args.docs, "--index": args.index, "-k": args.top_k, "--answerer": args.answerer}
    flags |= {"--model": args.model, "--retrieval": args.retrieval, "--concurrency": args.chat_concurrency}
    flags |= {"--users": args.users_file, "--rate-limit": args.chat_rate_limit}
    serve_args = [str(part) for flag, value in flags.items() if value is not None for part in (flag, value)]
    serve_args += ["--no-auth"] if args.no_auth else []
    serve_args += ["-q"] if args.quiet else ["-v"] if args.verbose else []
    serve_args += network_flags
    try:
        serve_workers(args.workers, args.host, args.port, serve_args=serve_args)
    except WorkersError as exc:
        raise ConfigError(str(exc)) from None
    return 0


def _parse_thresholds(specs: Sequence[str]) -> dict[str, float]:
    from rag.eval.metrics import METRIC_NAMES

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
