"""The chat's controls on answers: stop one while it streams, regenerate it, edit and resend a question, rate it.

- **Stop**: while an answer streams, the question box's send button becomes a stop button (``with_stop``);
  pressing it cancels the answer's event, gives the send button back and marks the cut-off answer (never saved).
- **Regenerate** (Gradio's retry button under the last answer) asks that question again: an LLM answerer writes
  a new answer; the extractive one answers from the documents as they are now.
- **Edit and resend**: a question in the chat can be edited (Gradio's edit button); the conversation is cut
  back to it and the edited question asked.
- **Thumbs up/down** (with accounts): stored per user with the question, the answer and its citations
  (``ChatAccess.rate_answer``), then an optional comment. ``rag feedback export --json`` lists them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import gradio as gr

from ui.access import ChatAccess

__all__ = ["AnswerMemory", "cut_back", "ready_box", "stopped", "streaming_box", "wire_rating", "with_stop"]

_KEY = re.compile(r'class="rag-message (rag-for-\d+)"')


def streaming_box() -> Any:
    """The question box while an answer streams: empty, with a stop button in place of send."""
    return gr.Textbox(value="", submit_btn=False, stop_btn=True)


def ready_box() -> Any:
    """The question box once no answer is streaming: the send button back."""
    return gr.Textbox(submit_btn=True, stop_btn=False)


def with_stop(outputs: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """``respond``'s updates with the box in streaming mode until the last, which gives the send button back.

    Each update goes out one step late (the next one tells whether it was the last); the final answer is the
    last update, so it is never held back.
    """
    previous: tuple[Any, ...] | None = None
    for update in outputs:
        if previous is not None:
            yield (streaming_box(), *previous[1:])
        previous = update
    if previous is not None:
        first = previous[0]
        yield (
            gr.Textbox(value=first, submit_btn=True, stop_btn=False) if isinstance(first, str) else ready_box(),
            *previous[1:],
        )


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
