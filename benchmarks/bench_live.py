"""A live corpus: how soon a file dropped into the docs folder is answered from, and what watching costs.

1. Landing to first citing answer: a bot over a copy of the seed articles, following its folder with
   ``DocsWatcher`` (watchfiles events, 1 s debounce), gets a new 1-page or 100-page document written into the
   folder; the clock runs from the write until ``bot.ask`` first cites the new file (asked every 0.1 s, in
   process). p50 and max over several runs; the file is removed (and its removal awaited) between runs.
2. Idle cost of watching a 10k-file folder: process CPU seconds per minute with a watcher on it and nothing
   changing, for file events (``watchfiles``) and for the polling fallback (a listing every 2 s), against the
   same process idle with no watcher, measured in the same run.

Run: ``python benchmarks/bench_live.py [--runs 5] [--big-runs 3] [--idle-s 30]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import rag
from rag.indexing.watch import DocsWatcher
from rag.ingest.documents import list_document_files

ROOT = Path(__file__).resolve().parent.parent
WORDS = (
    "river stone cloud market engine harbor violet signal orbit copper lantern meadow quartz falcon tundra "
    "pepper canyon velvet ember glacier marble cedar saffron beacon"
).split()
PAGE_CHARS = 3000


def _page(rng: random.Random, number: int) -> str:
    sentences = []
    while sum(len(s) for s in sentences) < PAGE_CHARS:
        sentences.append(f"On page {number} the {rng.choice(WORDS)} {rng.choice(WORDS)} was {rng.choice(WORDS)}.")
    return " ".join(sentences)


def _document(pages: int, run: int) -> tuple[str, str]:
    """A document of ``pages`` pages whose last page holds a fact no other text has, and a question about it."""
    rng = random.Random(run)
    code = f"Qx{run:03d}{pages}"
    body = [_page(rng, n) for n in range(pages)]
    body[-1] += f" The project code named {code} is led by Imogen Tarrant from Reykjavik."
    return "\n\n".join(body) + "\n", f"Who leads the project code named {code}?"


def _wait(condition: object, limit_s: float = 600.0) -> float:
    started = time.perf_counter()
    while not condition():  # type: ignore[operator]
        if time.perf_counter() - started > limit_s:
            raise TimeoutError("gave up waiting")
        time.sleep(0.1)
    return time.perf_counter() - started


def landing_to_answer(pages: int, runs: int, root: Path) -> list[float]:
    docs = root / f"docs-{pages}"
    shutil.copytree(ROOT / "seeds", docs)
    bot = rag.load(docs, root / f"index-{pages}", progress=False)
    timings = []
    with DocsWatcher(bot):
        time.sleep(1.5)
        for run in range(runs):
            text, question = _document(pages, run)
            name = f"landed-{run}.md"
            started = time.perf_counter()
            (docs / name).write_text(text, encoding="utf-8")

            def cited(name: str = name, question: str = question) -> bool:
                return any(c.source == name for c in bot.ask(question).citations)

            _wait(cited)
            timings.append(time.perf_counter() - started)
            (docs / name).unlink()
            _wait(lambda name=name: name not in bot.documents)  # type: ignore[misc]
    return timings


def _cpu_per_minute(seconds: float, start: object | None) -> float:
    before = time.process_time()
    stop = start() if start is not None else None  # type: ignore[operator]
    time.sleep(seconds)
    used = time.process_time() - before
    if stop is not None:
        stop()
    return used / seconds * 60


def idle_watch_cost(files: int, seconds: float, root: Path) -> dict[str, float]:
    folder = root / "10k"
    for number in range(files):
        sub = folder / f"part-{number // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"note-{number:05d}.txt").write_text(f"Note {number}.\n", encoding="utf-8")

    def events() -> object:
        import watchfiles

        stop = threading.Event()

        def run() -> None:
            for _ in watchfiles.watch(folder, stop_event=stop, debounce=1000, step=50, rust_timeout=1000):
                pass

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        time.sleep(2)  # the initial watch set-up (one inotify watch per folder) is not idle cost

        def halt() -> None:
            stop.set()
            thread.join()

        return halt

    def polling() -> object:
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(2.0):
                list_document_files(folder)  # what a polling refresh reads when nothing changed

        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join()

        return halt

    baseline = _cpu_per_minute(seconds, None)
    watching = _cpu_per_minute(seconds, events)
    polled = _cpu_per_minute(seconds, polling)
    return {"no watcher": baseline, "watchfiles events": watching, "polling every 2 s": polled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs with the 1-page document")
    parser.add_argument("--big-runs", type=int, default=3, help="runs with the 100-page document")
    parser.add_argument("--idle-s", type=float, default=30.0, help="seconds of idle measured per watcher")
    parser.add_argument("--files", type=int, default=10_000, help="files in the idle folder")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-live-"))
    try:
        print("| document | runs | p50 landing -> cited (s) | max (s) |")
        print("|---|---|---|---|")
        for pages, runs in ((1, args.runs), (100, args.big_runs)):
            timings = landing_to_answer(pages, runs, root)
            print(f"| {pages} page(s) | {runs} | {statistics.median(timings):.2f} | {max(timings):.2f} |", flush=True)
        print()
        print(f"| idle folder of {args.files} files | CPU s per minute |")
        print("|---|---|")
        for name, cost in idle_watch_cost(args.files, args.idle_s, root).items():
            print(f"| {name} | {cost:.3f} |", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
