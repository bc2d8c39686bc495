"""``rag chat``: an interactive session in the terminal, with history, follow-ups and ``/sources``.

Each question is asked with the conversation so far, so "and when?" is read as a follow-up of the previous
question. Commands start with a slash: ``/sources`` shows the passages the last answer cites (or, after a
refusal, the closest ones), ``/clear`` forgets the conversation, ``/help`` lists the commands and
``/quit`` (or end of input, Ctrl+D) leaves. It reads standard input line by line, so it also runs from a
pipe or a script; the prompt is shown only on a terminal.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rag.answer.display import plain_text
from rag.answer.types import Answer
from rag.answer.wire import answer_text
from rag.bot.bot import Bot
from rag.errors import QuestionError

__all__ = ["format_sources", "run_chat"]

HELP = (
    "Type a question about the documents. Commands: /sources (the last answer's passages), "
    "/clear (forget the conversation), /help, /quit (or Ctrl+D)."
)


def format_sources(answer: Answer | None) -> str:
    """The passages behind ``answer``: each citation's source, offsets and the sentences it was cited for."""
    if answer is None:
        return "No answer yet: ask a question first."
    if not answer.citations:
        lines = ["The last answer cites nothing. The closest passages were:"]
        for passage in answer.passages[:3]:
            lines.append(f"  {passage.source} [{passage.start}:{passage.end}] (score {passage.score:.2f})")
            lines.append(f"    {' '.join(plain_text(passage.text, cites=False).split())}")
        return "\n".join(lines)
    lines = []
    for c in answer.citations:
        page = getattr(c, "page", None)  # set for paged documents (PDFs) where the index records pages
        where = f"{c.source}, page {page}" if page is not None else c.source
        lines.append(f"[{c.n}] {where} [{c.start}:{c.end}] (score {c.score:.2f})")
        quoted = [c.text[start - c.start : end - c.start] for start, end in c.highlights] or [c.text]
        lines.extend(f"    {' '.join(plain_text(text, cites=False).split())}" for text in quoted)
    return "\n".join(lines)


def run_chat(bot: Bot, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the session until ``/quit`` or end of input; returns the exit code (0)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    history: list[tuple[str, str]] = []
    last: Answer | None = None

    def say(text: str) -> None:
        print(text, file=stdout, flush=True)

    say(f"Ask about {len(bot.documents)} document(s). {HELP}")
    while True:
        if interactive:
            stdout.write("> ")
            stdout.flush()
        line = stdin.readline()
        if not line:  # end of input
            return 0
        text = line.strip()
        if not text:
            continue
        command = text.lower()
        if command in {"/quit", "/exit", "/q"}:
            return 0
        if command == "/help":
            say(HELP)
        elif command == "/sources":
            say(format_sources(last))
        elif command in {"/clear", "/reset"}:
            history, last = [], None
            say("The conversation is forgotten; the next question starts afresh.")
        elif text.startswith("/"):
            say(f"Unknown command {text.split()[0]}. {HELP}")
        else:
            try:
                answer = bot.ask(text, history=history)
            except QuestionError as exc:
                say(f"error: {exc}")
                continue
            last = answer
            history += [(text, answer.text)]
            say(answer_text(answer))
            if answer.standalone_question:
                say(f"(searched for: {answer.standalone_question})")
            if answer.notice:
                say(f"({answer.notice})")
