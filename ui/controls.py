"""The chat's controls on answers: stop one while it streams, regenerate it, edit and resend a question, rate it.

- **Stop**: while an answer streams, the question box's send button becomes a stop button (``with_stop``);
  pressing it ends the answer at its next piece (``AnswerStreams``): the cut-off answer is marked (never saved)
  and the send button comes back. A question typed meanwhile stays in the box.
- **Regenerate** (Gradio's retry button under the last answer) asks that question again: an LLM answerer writes
  a new answer; the extractive one answers from the documents as they are now.
- **Edit and resend**: a question in the chat can be edited (Gradio's edit button); the conversation is cut
  back to it and the edited question asked.
- **Thumbs up/down** (with accounts): stored per user with the question, the answer and its citations
  (``ChatAccess.rate_answer``), then an optional comment. ``rag feedback export --json`` lists them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ui.access import ChatAccess

__all__ = [
    "AnswerMemory",
    "AnswerStreams",
    "cut_back",
    "ready_box",
    "stopped",
    "streaming_box",
    "wire_rating",
    "with_stop",
]

logger = logging.getLogger("rag.ui")

_KEY = re.compile(r'class="rag-message (rag-for-\d+)"')


def streaming_box() -> Any:
    """The question box while an answer streams: a stop button in place of send, whatever is typed left alone."""
    return gr.Textbox(submit_btn=False, stop_btn=True)


def ready_box() -> Any:
    """The question box once no answer is streaming: the send button back, whatever is typed left alone."""
    return gr.Textbox(submit_btn=True, stop_btn=False)


def with_stop(
    outputs: Iterable[tuple[Any, ...]],
    *,
    clear: bool,
    after: Callable[[tuple[Any, ...] | None], tuple[Any, ...]] | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[Any, ...]]:
    """``respond``'s updates with the question box's buttons: stop while the answer streams, send with the last.

    Only the first update may touch the box's text, emptying it when ``clear`` (the question was just sent;
    a regenerated or edited answer leaves a draft alone). Later updates, and Gradio's replay of the last one
    when the event ends, would wipe a next question typed meanwhile. The first goes out at once; each later
    one a step late (the next tells whether it was the last), so the final answer is never held back.
    ``after(update)`` gives more outputs for each update: ``after(None)`` for all but the last.

    Once ``stop_requested()`` is true the answer ends itself: its last update is the cut-off text marked as
    stopped, with the send button back, so that update and Gradio's replay of it agree whatever arrives when.
    """
    extra: Callable[[tuple[Any, ...] | None], tuple[Any, ...]] = after or (lambda _update: ())
    iterator = iter(outputs)
    first: tuple[Any, ...] | None = None
    previous: tuple[Any, ...] | None = None
    stop_shown = False
    for update in iterator:
        if first is None:
            first = update
            yield (gr.Textbox(value="") if clear else gr.skip(), *update[1:], *extra(None))
            continue
        if stop_requested():
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # ends the answerer's stream (an LLM's connection) now
            shown = previous or update
            _, marked = stopped(shown[1])
            yield (ready_box(), marked, *shown[2:], *extra(None))
            return
        if previous is not None:
            # The stop button once: re-sending it with every streamed piece re-rendered it, and a click that
            # landed on it mid-render was lost (the answer streamed on).
            yield (streaming_box() if not stop_shown else gr.skip(), *previous[1:], *extra(None))
            stop_shown = True
        previous = update
    if previous is not None:
        yield (ready_box(), *previous[1:], *extra(previous))
    elif first is not None and after is not None:  # the only update went out at once; what follows it still must
        yield (gr.skip(), *(gr.skip() for _ in first[1:]), *extra(first))


@dataclass
class _Stream:
    stop: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


class AnswerStreams:
    """The answer streaming in each chat session, and Stop for it.

    Stop does not cancel Gradio's event: the page sends a cancel without waiting for it, and an update the
    answer sent meanwhile (or Gradio's replay of its last) could land after the stop handler's and put the
    unmarked text and the stop button back. Stop asks the answer to end itself instead (``with_stop``): at its
    next piece it sends the marked text as its last update. An answerer silent for longer than ``wait_s``
    (an LLM stalled before its next token) is marked by the handler at once, and ends when that token comes.
    """

    def __init__(self, wait_s: float = 2.0) -> None:
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._wait_s = wait_s

    def run(
        self,
        session: str | None,
        outputs: Iterable[tuple[Any, ...]],
        *,
        clear: bool,
        after: Callable[[tuple[Any, ...] | None], tuple[Any, ...]] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """``with_stop(outputs)`` for ``session``'s answer, which its Stop button ends."""
        stream = _Stream()
        with self._lock:
            self._streams[session or ""] = stream
        try:
            yield from with_stop(outputs, clear=clear, after=after, stop_requested=stream.stop.is_set)
        finally:
            stream.ended.set()
            with self._lock:
                if self._streams.get(session or "") is stream:
                    del self._streams[session or ""]

    def stop(self, history: list[dict[str, Any]], request: gr.Request) -> tuple[Any, Any]:
        """The Stop handler: ask the session's answer to end; mark it here only if it does not end soon."""
        with self._lock:
            stream = self._streams.get(request.session_hash or "")
        if stream is None:
            return stopped(history)
        stream.stop.set()
        if stream.ended.wait(self._wait_s):
            return gr.skip(), gr.skip()  # the answer's own last update has marked it
        logger.warning("a stopped answer's answerer sent nothing for %.0f s; marked stopped meanwhile", self._wait_s)
        return stopped(history)


STOPPED_NOTICE = '<div class="rag-notice rag-stopped">Stopped: this answer is incomplete and was not saved.</div>'


def stopped(history: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """After Stop: the send button back, and the cut-off answer marked as such (it is never saved)."""
    if history and history[-1].get("role") == "assistant":
        content = _text(history[-1].get("content"))
        if "rag-streaming" in content and "rag-stopped" not in content:
            history = [*history[:-1], {"role": "assistant", "content": content + STOPPED_NOTICE}]
    return ready_box(), history


def cut_back(history: list[dict[str, Any]], index: int) -> tuple[str, list[dict[str, Any]]] | None:
    """The question at or before ``index`` and the messages before it, or None when there is none."""
    for i in range(min(index, len(history) - 1), -1, -1):
        if history[i].get("role") == "user":
            return _text(history[i].get("content")), history[:i]
    return None


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")


class AnswerMemory:
    """The ``rag ask --json`` object of recent answers by their key, so a rating stores what was answered."""

    def __init__(self, size: int = 2000) -> None:
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._size = size

    def keep(self, key: str, answer: dict[str, Any]) -> None:
        """Remember ``answer`` under its message's key (the oldest is forgotten past ``size``)."""
        self._answers[key] = answer
        while len(self._answers) > self._size:
            self._answers.popitem(last=False)

    def of_message(self, message: str, question: str) -> dict[str, Any]:
        """The answer a chat message shows: remembered, or (a reopened one) its question and text."""
        key = _KEY.search(message)
        if key and key.group(1) in self._answers:
            return self._answers[key.group(1)]
        text = re.sub(r"<details\b.*?</details>|<[^>]+>", " ", message, flags=re.DOTALL)
        return {"question": question, "answer": " ".join(text.split()), "citations": []}


def wire_rating(access: ChatAccess, chatbot: gr.Chatbot, conversation: gr.State, memory: AnswerMemory) -> None:
    """Thumbs up/down under each answer, then an optional comment box for that rating."""
    rated = gr.State(None)  # id of the last rating, for its comment
    comment = gr.Textbox(
        visible=False,
        show_label=False,
        placeholder="Thanks! Anything to add? What was wrong or missing (optional)",
        submit_btn="Send",
        elem_id="rating-comment",
        max_lines=4,
    )

    def rate(
        history: list[dict[str, Any]], conversation_id: str | None, like: gr.LikeData, request: gr.Request
    ) -> tuple[Any, Any]:
        viewer = access.viewer(request)
        index = like.index if isinstance(like.index, int) else like.index[0]
        if viewer is None or not 0 <= index < len(history) or like.liked not in (True, False):
            return None, gr.update(visible=False)
        turn = cut_back(history, index)
        answer = memory.of_message(_text(history[index].get("content")), turn[0] if turn else "")
        feedback_id = access.rate_answer(viewer, "up" if like.liked else "down", answer, conversation_id)
        return feedback_id, gr.update(visible=True, value="")

    def send(text: str, feedback_id: int | None, request: gr.Request) -> Any:
        viewer = access.viewer(request)
        if viewer is not None and feedback_id is not None and text.strip():
            access.comment_rating(viewer, feedback_id, text)
            gr.Info("Your comment was saved with your rating.")
        return gr.update(visible=False, value="")

    chatbot.like(rate, [chatbot, conversation], [rated, comment], api_visibility="private")
    comment.submit(send, [comment, rated], comment, api_visibility="private")
