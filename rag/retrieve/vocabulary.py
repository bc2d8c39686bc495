"""Words a question and the documents may spell differently: aliases, paraphrases, and other scripts.

- ``ALIASES``: well-known aliases and paraphrases ("MSFT", "inked", "chief executive"). ``expand_aliases``
  puts their usual form in a question before it is searched, so keyword search and term overlap find
  "Microsoft" for "MSFT" and "signed" for "inked", and the unknown-name rule does not fire on them.
- ``uncovered_script`` names the script of a question that the embedding model was not trained on, so the
  pipeline can say that only keyword search could match it.
- ``names_matched_densely``: the "unknown" names of a question that the embedding model reads as a name the
  passages hold (cosine at least ``DENSE_NAME_MATCH``): those are variants, not names the documents lack.

How text becomes keyword terms (stems, stop words, CJK bigrams) is ``rag.ingest.terms``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "ALIASES",
    "DENSE_NAME_MATCH",
    "expand_aliases",
    "names_matched_densely",
    "question_script",
    "uncovered_script",
]

# all-MiniLM-L6-v2 puts "Hyundais" at 0.91 of "Hyundai" and "Amazon's" at 0.89 of "Amazon", but "Japanese" at
# only 0.64 of "Korean" and "Seoul" at 0.78 of "Korea": a match this close is the same name, not a neighbour.
DENSE_NAME_MATCH = 0.85
_NAME = re.compile(r"\b[A-Z][\w'’-]+")

# Alias (lower case, whole words) -> the form documents usually use. Kept short and uncontroversial:
# stock tickers and spelled-out names of the companies a tech news corpus names, and news verbs.
ALIASES: dict[str, str] = {
    "msft": "Microsoft",
    "amzn": "Amazon AWS",
    "googl": "Google",
    "amazon web services": "AWS",
    "chief executive officer": "CEO",
    "chief executive": "CEO",
    "chief exec": "CEO",
    "inked": "signed",
    "ink": "sign",
    "inks": "signs",
    "sealed": "signed",
}
_ALIAS = re.compile(r"\b(" + "|".join(re.escape(a) for a in sorted(ALIASES, key=len, reverse=True)) + r")\b", re.I)


def expand_aliases(question: str) -> str:
    """``question`` with each alias in its usual form: ``"What did KT and MSFT agree?"`` -> ``"...Microsoft..."``.

    Replaced rather than added, so an alias no document holds does not dilute the question's terms.
    """
    return _ALIAS.sub(lambda match: ALIASES[match.group(1).lower()], question)


def alias_of(word: str) -> str | None:
    """The usual form of ``word`` when it is a known alias, else None."""
    return ALIASES.get(word.lower())


def _script_of(char: str) -> str | None:
    if not char.isalpha():
        return None
    if "\uac00" <= char <= "\ud7af" or "\u1100" <= char <= "\u11ff" or "\u3130" <= char <= "\u318f":
        return "Korean"
    if "\u3040" <= char <= "\u30ff" or "\uff66" <= char <= "\uff9f":
        return "Japanese"
    if "\u3400" <= char <= "\u4dbf" or "\u4e00" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff":
        return "Han"
    name = unicodedata.name(char, "")
    return name.split(" ")[0].title() if name else None


def question_script(question: str) -> str:
    """The script most of the question's letters are in: "Latin", "Korean", "Japanese", "Chinese", "Cyrillic"...

    Han characters count as Japanese when the question also holds Kana, else as Chinese.
    """
    counts: dict[str, int] = {}
    for char in question:
        script = _script_of(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "Latin"
    if "Han" in counts:
        counts["Japanese" if "Japanese" in counts else "Chinese"] = counts.get("Japanese", 0) + counts.pop("Han")
    return max(counts, key=lambda s: counts[s])


# Embedding models trained on English text only: their tokenizer maps other scripts to [UNK] or to
# scattered pieces, so a question in another script lands near nothing in particular.
_ENGLISH_ONLY_MODELS = ("all-minilm", "all-mpnet", "all-distilroberta", "bge-small-en", "bge-base-en", "gte-small")


def uncovered_script(question: str, model_name: str) -> str | None:
    """The question's script when the embedding model named ``model_name`` reads English only, else None."""
    script = question_script(question)
    if script == "Latin":
        return None
    name = model_name.lower().replace("_", "-")
    return script if any(marker in name for marker in _ENGLISH_ONLY_MODELS) else None


def names_matched_densely(
    unknown: Sequence[str], texts: Iterable[str], encode: Callable[[list[str]], np.ndarray]
) -> set[str]:
    """The words of ``unknown`` whose embedding is within ``DENSE_NAME_MATCH`` of a capitalised word of ``texts``."""
    names = sorted({match.group() for text in texts for match in _NAME.finditer(text)})
    if not unknown or not names:
        return set()
    vectors = encode([*unknown, *names])
    similarity = vectors[: len(unknown)] @ vectors[len(unknown) :].T
    return {word for word, row in zip(unknown, similarity, strict=True) if float(row.max()) >= DENSE_NAME_MATCH}
