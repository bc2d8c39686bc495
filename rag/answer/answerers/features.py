"""What a question asks for and what a sentence offers: the signals the extractive answerer ranks with.

A question has a *type*, read from its first words: a value ("what is the default ...", "how many"), a
definition ("what is / what does X do"), a procedure ("how do I ..."), a choice ("which function ..."), or a
yes/no question ("does ...", "can I ..."). A sentence offers *answer types*: a value (a number, a literal,
a default), code (a command, a call, an option), a definition ("X is a ...", "... means ..."), a negation.
``sentence_features`` turns a candidate sentence, its context and the question into the numbers the
ranker's weights (``rag.answer.answerers.weights``, learnt on the calibration split by ``evals/calibrate.py``)
multiply.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from rag.ingest.terms import tokenize

__all__ = [
    "ARGUMENTS",
    "FEATURE_NAMES",
    "SECTION_NUMBER",
    "SIGNATURE_PREFIXES",
    "Candidate",
    "QuestionType",
    "asks_negated",
    "asks_which_code",
    "code_names",
    "entry_names",
    "has_value",
    "holds_code",
    "holds_qualifiers",
    "qualified_subject",
    "qualifiers_asked",
    "question_type",
    "sentence_features",
    "text_flags",
]

QuestionType = str  # "value", "definition", "procedure", "which", "yesno", "other"

# A yes/no question may open with the condition it asks under: "If Popen.communicate() times out, is the child
# process killed for me?"
_YESNO = re.compile(
    r"\W*(?:(?:if|when|after|before|once|unless|while)\b[^,?]*,\s*)?"
    r"(is|are|was|were|does|do|did|can|could|will|would|should|must|has|have|may)\b",
    re.I,
)
_VALUE = re.compile(
    r"\b(default|how\s+many|how\s+much|how\s+long|maximum|minimum|max|min|limit|largest|smallest|most|least|"
    r"what\s+(?:version|size|port|number|value|mode|exit\s+code|exit\s+status|range|order|angle|resolution)|"
    r"which\s+(?:mode|version|value|exit|port))\b",
    re.I,
)
_PROCEDURE = re.compile(
    r"\W*(?:[\w' ,.]+?[,.]\s+)?how\s+(?:do|can|should|would|might)\s+(?:i|you|we|one)\b|\bhow\s+to\b", re.I
)
_WHICH = re.compile(
    r"\b(which|what)\s+(\w+\s+){0,2}(function|command|option|class|method|flag|variable|module|"
    r"keyword|file|terminal|routine|argument|parameter|setting|environment|statement|clause|"
    r"program|tool|key|name)s?\b",
    re.I,
)
_DEFINITION = re.compile(
    r"\W*(what\s+(is|are|does|do)\b|what'?s\b|how\s+(is|does|do)\b.*\b(differ|different)|what\s+makes\b|"
    r"what\s+.*\bmean\b|define\b)",
    re.I,
)

# What a sentence holds.
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?\d[\d_,.]*\w*|\b(zero|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"hundred|thousand|million|billion)\b",
    re.I,
)
_LITERAL = re.compile(r"\b(True|False|None|NULL|true|false)\b|'[^']{1,30}'|\"[^\"]{1,30}\"|=\S")
_DEFAULT = re.compile(r"\bdefaults?\b|\bby\s+default\b|\bdefault(?:s|ed)?\s+(?:to|is|value)\b", re.I)
_CODE = re.compile(
    r"(^|\s)(--?[a-zA-Z][\w-]*|\.[a-z]\w+)|\w\(|\)\s*$|^[$>#%]\s|^>>>|[{};]\s*$|\w+\.\w+\(|\b\w+_\w+\b|=\w|::"
)
_DEFINES = re.compile(
    r"\b(is|are)\s+(a|an|the|used|called|defined|one|shorthand|short|alias|equivalent|similar|like)\b|\bmeans?\b|"
    r"\brefers?\s+to\b|\bstands?\s+for\b|\bis\s+for\b|\ballows?\b|\blets?\b|\benables?\b|\bcauses?\b|"
    r"\bspecif(y|ies)\b|\bcontrols?\b|\bdetermines?\b|\breturns?\b|\bcreates?\b",
    re.I,
)
_NEGATION = re.compile(r"\b(not|no|never|cannot|can't|don't|doesn't|isn't|aren't|won't|neither|nor|only)\b|n't\b", re.I)
# What a sentence says to answer a question asking what is *not* so ("Which system is no longer supported?"):
# a negation, or that the thing went away.
_REMOVAL = re.compile(r"\b(removed|dropped|deprecated|unsupported|obsolete|disabled|discontinued|withdrawn)\b", re.I)
_IMPERATIVE = re.compile(r"\W*(use|run|type|call|set|add|pass|specify|enter|give|write|open|see|try)\b", re.I)
_META = re.compile(
    r"\W*(raises\s+an\s+auditing\s+event|changed\s+in\s+version|new\s+in\s+version|deprecated\s+since|"
    r"see\s+also|availability:|for\s+example[:,]?$|example:?$|note:?$)",
    re.I,
)

# A value question that asks for the default, the most or the least of something is answered only by a
# sentence that says which ("defaults to 100", "at most 2000 columns"): a near miss ("What is the maximum
# number of remotes?") names a subject the documents describe and a qualifier they never state about it.
_QUALIFIERS = {
    "default": (re.compile(r"\bdefault", re.I), re.compile(r"\bdefault|\binitially\b|\bunless\b|\w=[^\s=]", re.I)),
    "most": (
        re.compile(r"\b(maximum|max|largest|biggest|longest|highest|most|upper\s+limit)\b", re.I),
        re.compile(
            r"\b(maximum|max|largest|biggest|longest|highest|at\s+most|up\s+to|limit(ed|s)?|no\s+more|exceed|less\s+than\s+or\s+equal)",
            re.I,
        ),
    ),
    "least": (
        re.compile(r"\b(minimum|min|smallest|shortest|lowest|least)\b", re.I),
        re.compile(
            r"\b(minimum|min|smallest|shortest|lowest|at\s+least|no\s+less|no\s+fewer|greater\s+than\s+or\s+equal)",
            re.I,
        ),
    ),
}

FEATURE_NAMES = (
    "bias",
    "cosine",
    "passage_cosine",
    "overlap",
    "unit_overlap",
    "rank",
    "cosine_gap",
    "passage_gap",
    "overlap_gap",
    "type_value_has_value",
    "type_value_has_default",
    "type_definition_defines",
    "type_procedure_code",
    "type_which_code",
    "type_yesno_negation",
    "qualifier_held",
    "qualifier_missing",
    "opens_with_subject",
    "negation_match",
    "in_named_entry",
    "has_label",
    "is_code",
    "is_first_in_block",
    "is_meta",
    "short",
    "long",
)


@dataclass(frozen=True)
class Candidate:
    """A sentence to rank with what the ranker reads of it (all from the retrieved passage)."""

    text: str
    cosine: float
    passage_cosine: float
    overlap: float
    unit_overlap: float
    rank: int
    has_label: bool
    first_in_block: bool
    # How far under the question's best candidate it is (0 for the best, negative below): a logistic model
    # reading absolute cosines alone learnt to favour a sentence of a weak passage over its own passage's
    # sentences; these say how the sentence stands among this question's candidates.
    context_text: str = ""  # the label, antecedent or introduction quoted with it
    # The sentence names the question's rarest term in its first words: "The globs2 file is a simple list
    # ...", "The unixepoch() function returns ...": it is about the subject asked, not a mention of it.
    opens_with_subject: bool = False
    # The sentence sits in the entry of a name the question gives as code: "Returns False for broken symbolic
    # links." under os.path.exists(path), for "Does os.path.exists() return True for a broken symlink?".
    in_named_entry: bool = False
    cosine_gap: float = 0.0
    passage_gap: float = 0.0
    overlap_gap: float = 0.0


# A name written as code: a call ("os.path.exists()"), an option ("--quit"), a dotted name ("Popen.communicate"),
# a snake_case name ("exist_ok").
_CODE_NAME = re.compile(r"[A-Za-z_][\w.]*\(\)|(?<![\w-])--?[A-Za-z][\w-]+|\b[A-Za-z_]\w*(?:\.\w+)+|\b\w+_\w+\b")
SECTION_NUMBER = re.compile(r"\d+(\.\d+)*\.?")
# A signature's arguments, set aside to find its name: "(src, dst)", "[--index]", "<mode>".
ARGUMENTS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|<[^<>]*>")
# Words Sphinx puts before the name in a signature: "class csv.DictWriter(f, ...)", "classmethod Path.cwd()".
SIGNATURE_PREFIXES = frozenset(
    {"class", "exception", "classmethod", "staticmethod", "abstractmethod", "async", "coroutine", "awaitable"}
)


_OPTION_VALUE = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*=([A-Za-z][\w-]+)")


def code_names(question: str) -> frozenset[str]:
    """The names ``question`` writes as code, lower-cased, without call parentheses; an option's ``=value`` too.

    A dotted name also gives its last part: a manual files ``Popen.communicate`` under its class, and
    ``os.path.exists`` may be asked as ``exists``.
    """
    names: set[str] = set()
    for match in _CODE_NAME.finditer(question):
        name = match.group().lower().removesuffix("()").split("=")[0].rstrip(".")
        names.update([name, name.rsplit(".", 1)[-1]])
    # An option's value is an entry of its own: git-commit lists "verbatim" under "--cleanup=<mode>".
    names.update(value.lower() for value in _OPTION_VALUE.findall(question))
    return frozenset(name for name in names if len(name) >= 2 and not name[0].isdigit())


@functools.lru_cache(maxsize=65536)
def entry_names(title: str) -> frozenset[str]:
    """The names an entry's title gives, lower-cased: the first word of each comma-separated part.

    "os.path.exists(path)" gives ``os.path.exists``; "-n, --dry-run" gives ``-n`` and ``--dry-run``;
    "pop [--index] [<stash>]" gives ``pop``; "class csv.DictWriter(f, ...)" gives ``csv.dictwriter``; "3.3 Figure
    size" gives ``figure`` (section numbers and signature prefixes skipped).
    """
    names: set[str] = set()
    for part in re.split(r",\s+", ARGUMENTS.sub(" ", title)):  # "f(a, b)": one name
        words = [w for w in part.split() if not SECTION_NUMBER.fullmatch(w) and w not in SIGNATURE_PREFIXES]
        if words:
            name = re.split(r"[(\[=<]", words[0])[0].strip(".:;").lower()
            if len(name) >= 2:
                names.add(name)
    return frozenset(names)


def question_type(question: str) -> QuestionType:
    """The kind of answer ``question`` wants: value, definition, procedure, which, yesno or other."""
    if _PROCEDURE.match(question) or re.search(r"\bhow\s+(do|can|should)\s+(i|you)\b", question, re.I):
        return "procedure"
    if _VALUE.search(question):
        return "value"
    if _WHICH.search(question) or re.match(r"\W*which\b", question, re.I):
        return "which"
    if _YESNO.match(question):
        return "yesno"
    if _DEFINITION.match(question):
        return "definition"
    return "other"


def asks_which_code(question: str) -> bool:
    """True when ``question`` asks which function, command, option, class ... (a name written as code)."""
    return _WHICH.search(question) is not None


def qualifiers_asked(question: str) -> frozenset[str]:
    """The qualifiers ``question`` asks a value under: "default", "most", "least" (none for most questions)."""
    return frozenset(name for name, (asked, _) in _QUALIFIERS.items() if asked.search(question))


# "the maximum number of remotes", "the default value of gc.worktreePruneExpire": the thing a qualified value is
# of: the words after "of", up to a word that starts a clause ("the maximum length of a commit message that ...").
_QUALIFIED_OF = re.compile(
    r"\b(?:default|maximum|max|largest|biggest|longest|highest|minimum|min|smallest|shortest|lowest)"
    r"(?:\s+[\w-]+){0,2}?\s+of\s+(?:(?:a|an|the)\s+)?((?:(?!(?:that|which|who|a|an|the|in|on|for|can|could|does|do|is|are|"
    r"will|when|if|with|by|used)\b)[\w.()<>-]+\s*){1,3})",
    re.I,
)


def qualified_subject(question: str) -> frozenset[str]:
    """The terms of what ``question`` asks a qualified value of ("remotes" in "the maximum number of remotes ...")."""
    match = _QUALIFIED_OF.search(question)
    return frozenset(tokenize(match.group(1))) if match else frozenset()


def holds_qualifiers(text: str, asked: frozenset[str]) -> bool:
    """True when ``text`` states every qualifier in ``asked`` (``qualifiers_asked``)."""
    return all(_QUALIFIERS[name][1].search(text) for name in asked)


def has_value(text: str) -> bool:
    """True when ``text`` holds a number or a literal (``True``, ``'raise'``, ``=0o666``)."""
    return bool(_NUMBER.search(text) or _LITERAL.search(text))


def holds_code(text: str) -> bool:
    """True when ``text`` holds code: an option, a call, a dotted or snake_case name, a prompt, a statement end."""
    return bool(_CODE.search(text))


@functools.lru_cache(maxsize=65536)
def text_flags(text: str) -> tuple[bool, ...]:
    """What ``text`` holds, whatever the question (cached: the same sentences come back question after question).

    In order: a value, a default, a defining verb, code, an imperative, a negation, a meta line, very short,
    very long.
    """
    words = len(text.split())
    return (
        has_value(text),
        bool(_DEFAULT.search(text)),
        bool(_DEFINES.search(text)),
        bool(_CODE.search(text)),
        bool(_IMPERATIVE.match(text)),
        bool(_NEGATION.search(text)),
        bool(_META.match(text)),
        words < 6,
        words > 45,
    )


def asks_negated(question: str) -> bool:
    """True when ``question`` asks what is not so ("Which system is no longer supported?"), yes/no aside."""
    return question_type(question) != "yesno" and bool(_NEGATION.search(question))


def sentence_features(
    kind: QuestionType, candidate: Candidate, qualifiers: frozenset[str] = frozenset(), negated: bool = False
) -> list[float]:
    """The feature vector of ``candidate`` for a question of type ``kind``, in ``FEATURE_NAMES`` order.

    ``qualifiers`` are those the question asks its value under (``qualifiers_asked``); ``negated`` says it
    asks what is not so (``asks_negated``).
    """
    value, default, defines, code, imperative, negation, meta, short, long = text_flags(candidate.text)
    qualified = bool(qualifiers) and holds_qualifiers(f"{candidate.context_text} {candidate.text}", qualifiers)
    return [
        1.0,
        candidate.cosine,
        candidate.passage_cosine,
        candidate.overlap,
        candidate.unit_overlap,
        1.0 / candidate.rank,
        candidate.cosine_gap,
        candidate.passage_gap,
        candidate.overlap_gap,
        float(kind == "value" and value),
        float(kind == "value" and default),
        float(kind == "definition" and defines),
        float(kind == "procedure" and (code or imperative)),
        float(kind == "which" and code),
        float(kind == "yesno" and negation),
        float(qualified),
        float(bool(qualifiers) and not qualified),
        float(candidate.opens_with_subject),
        float(negated and (negation or bool(_REMOVAL.search(candidate.text)))),
        float(candidate.in_named_entry),
        float(candidate.has_label),
        float(code),
        float(candidate.first_in_block),
        float(meta),
        float(short),
        float(long),
    ]
