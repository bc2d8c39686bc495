"""Verifying an LLM's answer against the passages it cites, before a user sees it: the one place it happens.

Each sentence of the answer is checked by ``rag.answer.grounding.check_grounding`` (embedding similarity to the
cited passages, and every number in the sentence found in one of them). Then ``settings.verify`` decides:

- ``"strict"`` (default): an answer that cites no valid passage, or none of whose sentences is supported,
  is not shown as the documents' answer: the extractive answer (or its refusal) replaces it, with a notice
  saying the model's answer could not be verified. So is a supported answer to a question the passages do
  not answer (the extractive answerer, calibrated for exactly that, refuses it): a model that quotes an
  unrelated sentence of a passage ("Korea is an important market [1]" for "What is the capital of
  France?") passes the similarity check, and the documents are silent all the same. Unsupported sentences
  of an otherwise supported answer stay listed in ``Answer.unsupported_sentences``, for the UI to show apart.
- ``"flag"``: the answer is shown as written, its unsupported sentences listed, with a notice.
- ``"off"``: the model's reply is shown unchecked.

What was done is reported in ``Answer.verification`` (see ``VERIFICATION_OUTCOMES``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from rag.answer.grounding import check_grounding, split_answer_sentences
from rag.answer.types import REFUSAL_TEXT, Answer
from rag.config import VerifyMode
from rag.embeddings import Embedder
from rag.ingest.terms import tokenize
from rag.stores.base import Store

__all__ = ["UNVERIFIED_NOTICE", "VERIFICATION_OUTCOMES", "verify_answer"]

logger = logging.getLogger(__name__)

_MARKERS = re.compile(r"\[\d+\]")

# Answer.verification values.
VERIFICATION_OUTCOMES = {
    "not_needed": "the answer quotes the documents (extractive) or is a refusal: nothing to verify",
    "verified": "every sentence is supported by a passage it cites",
    "partial": "some sentences are supported; the others are listed in unsupported_sentences",
    "flagged": "no sentence could be verified, and the answer is shown anyway (verify=flag)",
    "replaced": "no sentence could be verified, so the extractive answer or refusal replaced it (verify=strict)",
    "off": "the model's reply is shown unchecked (verify=off)",
}

UNVERIFIED_NOTICE = "The model's answer could not be verified against the documents"


def verify_answer(
    answer: Answer,
    *,
    mode: VerifyMode,
    embedder: Embedder,
    store: Store,
    fallback: Callable[[], Answer],
) -> Answer:
    """Check ``answer`` and apply ``mode``; returns it (checked), or the ``fallback()`` answer replacing it.

    Args:
        answer: The answer as the answerer wrote it.
        mode: ``"strict"``, ``"flag"`` or ``"off"``.
        embedder: The index's embedding model (for the grounding check).
        store: The index the passages came from.
        fallback: Builds the answer shown instead of an unverifiable one (the extractive answerer's).
    """
    if answer.backend == "extractive":
        answer.verification = "not_needed"
        return answer
    if mode == "off":
        answer.verification = "off"
        return answer
    if answer.refused:
        answer.verification = "not_needed"
        if mode == "strict":  # the refusal alone: whatever the model added to it is not from the documents
            answer.text = REFUSAL_TEXT
        return answer
    answer = check_grounding(answer, embedder, store)
    echoes = [x for x in split_answer_sentences(answer.text) if _restates(x, answer.question)]
    # A question, or the question said back, is as close to its passages as the question itself was, so the
    # similarity check passes it; it answers nothing (a 135M model does this for a third of the eval set).
    answer.unsupported_sentences = [
        *answer.unsupported_sentences,
        *(x for x in echoes if x not in answer.unsupported_sentences),
    ]
    unverified = not answer.citations or not _any_supported(answer)
    evidence: Answer | None = None
    if not unverified and mode == "strict":
        evidence = fallback()
        unverified = evidence.refused
    if not unverified:
        answer.verification = "partial" if answer.unsupported_sentences else "verified"
        return answer
    if not answer.citations:
        reason = "it cites no passage"
    elif evidence is not None:
        reason = "the passages found do not answer the question"
    else:
        reason = "no cited passage supports any of its sentences"
    if mode == "flag":
        answer.verification = "flagged"
        answer.notice = " ".join(n for n in [answer.notice, f"{UNVERIFIED_NOTICE}: {reason}."] if n)
        return answer
    logger.info("%s answer replaced (%s): %r", answer.backend, reason, answer.text[:200])
    replacement = evidence if evidence is not None else fallback()
    replacement.verification = "replaced"
    shown = "the refusal" if replacement.refused else "extracted passages"
    replacement.notice = " ".join(
        n for n in [f"{UNVERIFIED_NOTICE} ({reason}); showing {shown} instead.", replacement.notice] if n
    )
    return replacement


def _restates(sentence: str, question: str) -> bool:
    """Whether ``sentence`` is a question, or uses no word the question does not (it says the question back)."""
    text = _MARKERS.sub("", sentence).strip()
    if text.endswith(("?", "？")):
        return True
    words = set(tokenize(text))
    return bool(words) and words <= set(tokenize(question))


def _any_supported(answer: Answer) -> bool:
    return len(answer.unsupported_sentences) < len(split_answer_sentences(answer.text))
