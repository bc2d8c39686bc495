"""Cutting text into keyword terms: lower-cased, stemmed words without stop words, and CJK runs as bigrams.

``tokenize`` is the one vocabulary of keyword search. The same terms are counted when an index is written
(the Postgres store keeps each chunk's terms and their counts) and when a question is asked (BM25, the
idf-weighted term overlap of sentences, the follow-up and verification checks), so a question's terms and a
chunk's always meet.

CJK text has no spaces between words and particles stick to nouns ("KT는"): ``cjk_bigrams`` cuts runs of
Hangul, Kana and Han into overlapping character pairs, the dictionary-free tokenisation Lucene's
CJKBigramFilter also uses.
"""

from __future__ import annotations

import re

__all__ = ["CJK_RUN", "cjk_bigrams", "stem", "tokenize"]


# Hangul (syllables and jamo), Hiragana, Katakana (full and half width) and Han ideographs.
CJK_RUN = re.compile(
    "[\u1100-\u11ff\u3040-\u309f\u30a0-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]+"
)


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a CJK run (``"협력했나요"`` -> 협력, 력했, 했나, 나요); a lone character stays."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i : i + 2] for i in range(len(run) - 1)]


_TOKEN = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    """a an and are as at be been but by did do does for from had has have how i in is it its of on or that
    the their them they this to was were what when where which who whom why will with would you your me
    my we our us can could should about into than then there these those so if not no during up down
    over after before also just only more most some any each other such very much many here now get got
    make made tell know say said please hey quick one thing""".split()
)


# Suffixes stripped by the light stemmer, longest first; "ies" becomes "y" so companies = company.
_SUFFIXES = (("ship", ""), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("ly", ""), ("s", ""))


def stem(token: str) -> str:
    """Strip one common English suffix, keeping at least four letters (partnership -> partner)."""
    for suffix, replacement in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) + len(replacement) >= 4 and not token.endswith("ss"):
            return token[: -len(suffix)] + replacement
    return token


# Token -> stem, filled as tokens are met: a dict lookup is the cheapest step per token, and indexing 100k
# chunks tokenizes some fifteen million of them. Cleared when it grows past a bound (hostile input).
_STEMS: dict[str, str] = {}


_STEMS_LIMIT = 500_000


def tokenize(text: str) -> list[str]:
    """Lower-case, stemmed word tokens without stop words: the vocabulary of BM25 and of term overlap."""
    stems = _STEMS
    if len(stems) > _STEMS_LIMIT:
        stems.clear()
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if not token.isascii() and CJK_RUN.search(token):
            out.extend(_cjk_tokens(token))
            continue
        stemmed = stems.get(token)
        if stemmed is None:
            stemmed = stems[token] = "" if token in _STOPWORDS else stem(token)
        if stemmed:
            out.append(stemmed)
    return out


def _cjk_tokens(token: str) -> list[str]:
    """A word holding Hangul, Kana or Han: its CJK runs as character bigrams, the rest stemmed as usual.

    ``"kt는"`` -> ``["kt", "는"]``: the particle comes off the name, so "KT" is found.
    """
    out: list[str] = []
    cursor = 0
    for match in CJK_RUN.finditer(token):
        out.extend(_plain_tokens(token[cursor : match.start()]))
        out.extend(cjk_bigrams(match.group()))
        cursor = match.end()
    out.extend(_plain_tokens(token[cursor:]))
    return out


def _plain_tokens(piece: str) -> list[str]:
    if not piece or piece in _STOPWORDS:
        return []
    stemmed = stem(piece)
    return [stemmed] if stemmed else []
