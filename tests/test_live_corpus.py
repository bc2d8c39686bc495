"""A live corpus: scoped questions, listing/removing/re-indexing documents, resumable indexing and its progress."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rag
from rag.cli import main
from rag.config import Settings
from rag.embeddings import Embedder
from rag.indexing.faiss import sync_index
from rag.indexing.progress import IndexProgress
from rag.stores.base import Scope
from rag.stores.faiss import ChunkStore
from rag.stores.manifest import Manifest
from tests.conftest import ANALYSIS, SIGNING

NOTES = "notes.md"
NOTES_TEXT = "Zorblat notes.\n\nAda Berg leads the Zorblat project in Oslo. The project ships in March.\n"


@pytest.fixture
def bot(settings: Settings) -> rag.Bot:
    (settings.docs_dir / NOTES).write_text(NOTES_TEXT, encoding="utf-8")
    return rag.load(settings=settings, progress=False)


# ------------------------------------------------------------------------------------------- scope


@pytest.mark.parametrize("retrieval", ["dense", "hybrid"])
def test_a_scoped_search_returns_the_full_k_from_the_scope_only(bot: rag.Bot, retrieval: str) -> None:
    chunks_in_scope = bot.store.manifest.files[ANALYSIS].chunks
    assert chunks_in_scope >= 4
    # A question about the notes: unscoped, the notes come first; scoped, only the analysis may answer.
    unscoped = bot.retrieve("Who leads the Zorblat project?", k=4, retrieval=retrieval)  # type: ignore[arg-type]
    assert unscoped[0].source == NOTES
    scoped = bot.retrieve("Who leads the Zorblat project?", k=4, retrieval=retrieval, sources=[ANALYSIS])  # type: ignore[arg-type]
    assert len(scoped) == 4 and {p.source for p in scoped} == {ANALYSIS}
    everything = bot.retrieve("KT Microsoft", k=20, retrieval=retrieval, sources=[ANALYSIS])  # type: ignore[arg-type]
    assert len(everything) == chunks_in_scope  # all of the scope, nothing else


def test_bm25_ranks_only_rows_in_scope(bot: rag.Bot) -> None:
    retriever = bot._snapshot.retriever
    scope = Scope(frozenset({ANALYSIS}), retriever.rows_of({ANALYSIS}))
    assert retriever.bm25.top("Zorblat", 5)  # the notes hold the word
    assert retriever.bm25.top("Zorblat", 5, scope) == []
    rows = retriever.bm25.top("Microsoft", 10, scope)
    assert rows and {bot.store.chunks[r].source for r in rows} == {ANALYSIS}


def test_globs_and_base_names_select_documents_and_a_typo_is_an_error(bot: rag.Bot) -> None:
    passages = bot.retrieve("KT and Microsoft", k=10, sources=["*.txt"])
    assert {p.source for p in passages} == {SIGNING, ANALYSIS}
    assert {p.source for p in bot.retrieve("KT", k=10, sources=["*.md"])} == {NOTES}
    with pytest.raises(rag.QuestionError, match=r"no indexed document matches 'nope\.md'"):
        bot.ask("Who leads the project?", sources=["nope.md"])


def test_a_scoped_answer_cites_only_the_scope(bot: rag.Bot) -> None:
    answer = bot.ask("Who leads the Zorblat project?", sources=[NOTES])
    assert not answer.refused and {c.source for c in answer.citations} == {NOTES}
    answer = bot.ask("Who signed the KT-Microsoft agreement, and where?", sources=[SIGNING, ANALYSIS])
    assert answer.citations and {c.source for c in answer.citations} <= {SIGNING, ANALYSIS}


def test_rag_ask_source_is_repeatable(bot: rag.Bot, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--docs", str(settings.docs_dir), "--index", str(settings.index_dir), "-q"]
    assert main(["ask", *args, "Who leads the Zorblat project?", "--json", "--source", NOTES]) == 0
    cited = {c["source"] for c in json.loads(capsys.readouterr().out)["citations"]}
    assert cited == {NOTES}
    assert (
        main(["ask", *args, "Who leads the Zorblat project?", "--json", "--source", SIGNING, "--source", ANALYSIS]) == 0
    )
    cited = {c["source"] for c in json.loads(capsys.readouterr().out)["citations"]}
    assert NOTES not in cited
    assert main(["ask", *args, "Who leads it?", "--source", "missing*"]) == 2
    assert "no indexed document matches 'missing*'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------- documents


def test_list_documents_reports_every_file_with_its_status(bot: rag.Bot) -> None:
    (bot.settings.docs_dir / "later.txt").write_text("Written after the index was built.", encoding="utf-8")
    documents = {d.name: d for d in bot.list_documents()}
    assert set(documents) == {SIGNING, ANALYSIS, NOTES, "later.txt"}
    notes = documents[NOTES]
    assert (notes.type, notes.size, notes.chunks, notes.status) == ("md", len(NOTES_TEXT.encode()), 1, "indexed")
    assert notes.indexed_at is not None and abs(notes.indexed_at - time.time()) < 600
    assert documents["later.txt"].status == "pending" and documents["later.txt"].chunks == 0
    row = notes.to_dict()
    assert set(row) == {"name", "type", "size", "pages", "chunks", "indexed_at", "status", "reason"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["indexed_at"])


def test_a_removed_document_is_never_cited_again(bot: rag.Bot) -> None:
    assert bot.ask("Who leads the Zorblat project?").citations[0].source == NOTES
    report = bot.remove_documents([NOTES])
    assert report.removed == [NOTES] and not (bot.settings.docs_dir / NOTES).exists()
    assert NOTES not in {d.name for d in bot.list_documents()}
    for retrieval in ("dense", "hybrid"):
        passages = bot.retrieve("Who leads the Zorblat project?", k=20, retrieval=retrieval)  # type: ignore[arg-type]
        assert NOTES not in {p.source for p in passages}
    assert bot._snapshot.retriever.bm25.document_frequency("zorblat") == 0
    assert NOTES not in {c.source for c in bot.ask("Who leads the Zorblat project?").citations}
    # and from disk, for the next process
    reloaded = rag.load(settings=bot.settings, progress=False)
    assert NOTES not in reloaded.store.manifest.files
    with pytest.raises(rag.DocumentError, match=r"no document named 'notes\.md'"):
        bot.remove_documents([NOTES])


def test_reindex_embeds_the_named_documents_again(bot: rag.Bot) -> None:
    before = bot.store.manifest.files[NOTES].indexed_at
    report = bot.reindex_documents([NOTES])
    assert report.changed == [NOTES] and report.embedded_chunks == 1
    assert bot.store.manifest.files[NOTES].indexed_at > before
    assert bot.ask("Who leads the Zorblat project?").citations[0].source == NOTES


def test_an_edit_that_cannot_be_read_keeps_the_previous_version_and_says_why(bot: rag.Bot) -> None:
    (bot.settings.docs_dir / NOTES).write_bytes(b"Zorblat \xff\xfe broken")
    report = bot.refresh()
    assert [name for name, _ in report.kept] == [NOTES]
    assert "not UTF-8" in report.kept[0][1] and "kept the previous version of notes.md" in report.summary()
    assert bot.ask("Who leads the Zorblat project?").citations[0].source == NOTES
    (listed,) = [d for d in bot.list_documents() if d.name == NOTES]
    assert listed.status == "indexed" and "previous version" in listed.reason and "not UTF-8" in listed.reason
    (bot.settings.docs_dir / NOTES).write_text(NOTES_TEXT.replace("Ada Berg", "Cleo Dunn"), encoding="utf-8")
    report = bot.refresh()
    assert report.changed == [NOTES] and not report.kept
    assert "Cleo Dunn" in bot.ask("Who leads the Zorblat project?").text


def test_rag_docs_commands(bot: rag.Bot, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--docs", str(settings.docs_dir), "--index", str(settings.index_dir), "-q"]
    assert main(["docs", "list", *args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [SIGNING, ANALYSIS, NOTES] and {r["status"] for r in rows} == {"indexed"}
    assert main(["docs", "list", *args]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["NAME", "TYPE", "SIZE", "PAGES", "CHUNKS", "INDEXED", "STATUS"]
    assert "3 document(s), 3 indexed" in table
    assert main(["docs", "show", *args, NOTES]) == 0
    shown = capsys.readouterr().out
    assert "chunks:     1" in shown and "Ada Berg leads the Zorblat project" in shown
    assert main(["docs", "reindex", *args, NOTES]) == 0
    assert "1 changed" in capsys.readouterr().out
    assert main(["docs", "remove", *args, NOTES]) == 0
    assert "1 removed" in capsys.readouterr().out
    assert not (settings.docs_dir / NOTES).exists()
    assert NOTES not in ChunkStore.load(settings.index_dir).manifest.files
    assert main(["docs", "show", *args, NOTES]) == 3


# ------------------------------------------------------------------------------ resumable indexing

_WORDS = (
    "river stone cloud market engine harbor violet signal orbit copper lantern meadow quartz falcon tundra "
    "pepper canyon velvet ember glacier marble cedar saffron beacon"
).split()


def _write_corpus(folder: Path, files: int, paragraphs: int = 6) -> None:
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(files):
        text = "\n\n".join(
            " ".join(
                f"The {rng.choice(_WORDS)} {rng.choice(_WORDS)} of file {number} is {rng.choice(_WORDS)}."
                for _ in range(7)
            )
            for _ in range(paragraphs)
        )
        (folder / f"doc_{number:03d}.txt").write_text(text + "\n", encoding="utf-8")


def _manifest(index_dir: Path) -> Manifest | None:
    try:
        return Manifest.from_json((index_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_killed_index_run_resumes_without_embedding_finished_files_again(tmp_path: Path, sig: int) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    _write_corpus(docs, 40)
    env = {**os.environ, "RAG_INDEX_STEP_CHUNKS": "6", "RAG_DOCS": str(docs), "RAG_INDEX": str(index)}
    command = [sys.executable, "-m", "rag.cli", "index"]
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    manifest = None
    while time.monotonic() < deadline and run.poll() is None:
        manifest = _manifest(index)
        if manifest is not None and len(manifest.files) >= 6 and manifest.pending:
            break
        time.sleep(0.05)
    assert run.poll() is None, f"the run ended before it could be killed: {run.communicate()}"
    run.send_signal(sig)
    _, err = run.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert run.returncode == 130 and "files indexed so far are kept" in err
    else:
        assert run.returncode == -signal.SIGKILL
    # The index on disk is consistent (checksums, chunk counts) and holds whole files only.
    store = ChunkStore.load(index)
    done = {name: entry.chunks for name, entry in store.manifest.files.items()}
    assert done and store.manifest.pending and len(store) == sum(done.values())
    assert not set(done) & set(store.manifest.pending)
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=True)
    match = re.search(r"\((\d+) chunks embedded, (\d+) in all\)", rerun.stdout)
    assert match, rerun.stdout
    embedded, total = int(match[1]), int(match[2])
    assert embedded == total - sum(done.values())  # finished files were not embedded again
    assert f"resumed an interrupted run ({len(done)} file(s), {sum(done.values())} chunks" in rerun.stdout
    final = ChunkStore.load(index)
    assert len(final.manifest.files) == 40 and not final.manifest.pending and len(final) == total


# Ctrl-C that lands while a finalizer runs: Python raises the KeyboardInterrupt inside ``__del__`` and only
# prints "Exception ignored in ...", so the run went on to the end and exited 0. The driver drops such an
# object right after the second step is committed, the way a garbage collection can at any moment.
_SWALLOWED_CTRL_C = """
import os, signal, sys
import rag.indexing.faiss as faiss
from rag.cli import main

class SendsCtrlC:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs at one of these lines, inside __del__
            pass

commit, steps = faiss._commit, []

def commit_then_collect(*args, **kwargs):
    store = commit(*args, **kwargs)
    steps.append(1)
    if len(steps) == 2:
        SendsCtrlC()  # freed at once: its __del__ runs here
    return store

faiss._commit = commit_then_collect
sys.exit(main(["index"]))
"""


@pytest.mark.slow
def test_ctrl_c_swallowed_by_a_finalizer_still_stops_the_index_run(tmp_path: Path) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    _write_corpus(docs, 40)
    env = {**os.environ, "RAG_INDEX_STEP_CHUNKS": "6", "RAG_DOCS": str(docs), "RAG_INDEX": str(index)}
    run = subprocess.run(
        [sys.executable, "-c", _SWALLOWED_CTRL_C], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 130, run.stderr[-2000:]
    assert "files indexed so far are kept" in run.stderr
    store = ChunkStore.load(index)
    assert store.manifest.pending and 0 < len(store.manifest.files) < 40  # stopped within a step or two


@pytest.mark.slow
def test_progress_events_arrive_at_least_once_a_second(tmp_path: Path, embedder: Embedder) -> None:
    docs = tmp_path / "docs"
    _write_corpus(docs, 60, paragraphs=8)  # about 30 s of embedding on two cores
    events: list[tuple[float, IndexProgress]] = []
    store, report = sync_index(
        Settings(docs_dir=docs, index_dir=tmp_path / "index"),
        embedder,
        progress=lambda event: events.append((time.monotonic(), event)),
    )
    assert report.embedded_chunks == len(store) >= 200
    times = [t for t, _ in events]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[-1] - times[0] > 3  # a job long enough for gaps to matter (28 s when measured)
    assert max(gaps) < 1.0, max(gaps)
    last = events[-1][1]
    assert last.finished and last.chunks_done == last.chunks_total == len(store) and last.files_done == 60
    done = [e.chunks_done for _, e in events]
    assert done == sorted(done) and len(set(done)) > 10  # it moves, in many small steps
    middle = events[len(events) // 2][1]
    assert middle.rate > 0 and middle.eta_s is not None and "chunks/s" in middle.describe()


def test_questions_are_answered_from_the_previous_index_while_a_refresh_runs(bot: rag.Bot) -> None:
    import threading

    text = "\n\n".join(f"Paragraph {n}: the {n}th lantern of the harbor burns copper green. " * 6 for n in range(60))
    (bot.settings.docs_dir / "long.md").write_text(text, encoding="utf-8")
    started = threading.Event()
    events: list[IndexProgress] = []

    def progress(event: IndexProgress) -> None:
        events.append(event)
        if event.chunks_done:
            started.set()

    refresh = threading.Thread(target=lambda: bot.refresh(progress=progress))
    refresh.start()
    assert started.wait(60)
    asked = time.monotonic()
    answer = bot.ask("Who leads the Zorblat project?")
    took = time.monotonic() - asked
    still_running, served_before = refresh.is_alive(), "long.md" not in bot.documents
    refresh.join()
    assert still_running and took < 2.0  # not held up by the refresh's write lock
    assert answer.citations[0].source == NOTES and served_before  # the previous index answered
    assert "long.md" in bot.documents and events[-1].finished


def test_removing_every_document_empties_the_index(bot: rag.Bot) -> None:
    report = bot.remove_documents([SIGNING, ANALYSIS, NOTES])
    assert sorted(report.removed) == sorted([SIGNING, ANALYSIS, NOTES]) and report.total_chunks == 0
    assert bot.documents == [] and bot.retrieve("Who signed the agreement?", k=4) == []
    assert bot.ask("Who signed the agreement?").citations == []
    assert ChunkStore.load(bot.settings.index_dir).manifest.files == {}
    (bot.settings.docs_dir / NOTES).write_text(NOTES_TEXT, encoding="utf-8")  # and it fills again
    assert bot.refresh().added == [NOTES]
    assert bot.ask("Who leads the Zorblat project?").citations[0].source == NOTES


def test_a_cancelled_upload_keeps_what_was_indexed_and_adds_nothing_else(bot: rag.Bot) -> None:
    import threading

    from rag.indexing.faiss import IndexCancelled

    bot.settings = bot.settings.replace(index_step_chunks=1)  # one commit per file
    documents = [
        rag.Document.from_text(f"uploads/part-{n}.md", f"Part {n}. " + f"The {n}th lantern burns copper green. " * 60)
        for n in range(4)
    ]
    cancel = threading.Event()

    def progress(event: IndexProgress) -> None:
        if event.files_done >= 1:
            cancel.set()

    with pytest.raises(IndexCancelled) as raised:
        bot.add_documents(documents, progress=progress, cancel=cancel)
    committed, remaining = raised.value.committed, raised.value.remaining
    assert committed and remaining and sorted(committed + remaining) == [d.source for d in documents]
    uploads = bot.settings.docs_dir / "uploads"
    assert sorted(f"uploads/{p.name}" for p in uploads.iterdir()) == sorted(committed)  # the rest not added
    assert set(committed) <= set(bot.documents) and not set(remaining) & set(bot.documents)
    on_disk = ChunkStore.load(bot.settings.index_dir)
    assert set(committed) <= set(on_disk.manifest.files) and not set(remaining) & set(on_disk.manifest.files)
    report = bot.refresh()  # nothing left over for a later refresh or a watcher to pick up
    assert report.action == "reused" or not (report.added or report.changed)


@pytest.mark.slow
def test_rag_index_draws_a_progress_bar_that_moves_at_least_once_a_second(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    _write_corpus(tmp_path / "docs", 90)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # tqdm needs a width
    command = [
        sys.executable,
        "-m",
        "rag.cli",
        "index",
        "--docs",
        str(tmp_path / "docs"),
        "--index",
        str(tmp_path / "i"),
    ]
    run = subprocess.Popen(command, stdout=follower, stderr=follower)
    os.close(follower)
    frames: list[tuple[float, str]] = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        now = time.monotonic()
        frames += [(now, part.decode(errors="replace")) for part in data.split(b"\r") if b"chunk" in part]
    assert run.wait(timeout=300) == 0
    bars = [(t, text) for t, text in frames if re.search(r"\d+/\d+ \[", text)]
    assert bars and re.search(r"270/270 .*chunk/s, files 90/90", bars[-1][1])
    assert re.search(r"<\d\d:\d\d", bars[len(bars) // 2][1])  # time left
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(bars)]
    assert bars[-1][0] - bars[0][0] > 2 and max(gaps) < 1.0
