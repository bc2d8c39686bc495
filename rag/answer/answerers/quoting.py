"""The context a quoted sentence needs to be read alone: the term it describes, the name its "it" stands for.

Three kinds of context, all found in the passage's own text, so every quoted span is still exact:

- a *label*: the line directly above the line a sentence opens, in the same block (one line break, no
  blank line), when that line is a term rather than prose: a ``<dt>`` signature or option above its
  description (``rag.ingest.readers.html`` writes them so), a "Syntax:"-style heading. "Recursively copy an entire
  directory tree ..." says which function only with ``shutil.copytree(src, dst, ...)`` above it.
- an *antecedent*: the sentence before one that opens with a pronoun ("It is believed to be Korea's
  biggest LLM" is about the model the sentence before names).
- an *entry term*: the term at the start of the entry a sentence sits deep in, lines above it ("set-url" for
  "Sets first URL for remote <name> ..."); the answer shows the lines skipped between them as "…".
"""

from __future__ import annotations

import itertools
import re

from rag.answer.answerers.features import ARGUMENTS, SECTION_NUMBER, SIGNATURE_PREFIXES, holds_code
from rag.ingest.chunking import ENDS_SENTENCE, MAX_LABEL_CHARS, reflow
from rag.ingest.readers.base import heading_titles, innermost_heading
from rag.ingest.terms import tokenize
from rag.retrieve.passages import Passage, ScoredSentence

__all__ = [
    "alternative",
    "antecedent",
    "continued_from",
    "echoes",
    "entry_term",
    "follow_up",
    "introduced",
    "is_fragment",
    "is_heading",
    "label_of",
    "names_it",
    "never_answers",
    "opens_block",
    "quote_text",
    "starts_with_pronoun",
    "verdict_before",
]

_PRONOUN = re.compile(r"\W*(it|its|they|their|this|these|those|he|she|his|her|such)\b", re.I)


# A line that ends on a comma or a word no sentence ends with was cut by a hard line break the reader could
# not tell from a paragraph end (a PDF's title page, a column): quoting it would stop mid-sentence.
_DANGLING = re.compile(
    r"(?:\b(?:the|a|an|of|to|and|or|in|for|with|by|from|that|as|at|on|is|are|be|if|when|than|but|nor)|[,(\-–])$",
    re.IGNORECASE,
)
_PROMPT = re.compile(r"\s*(>>>|\.\.\.|\$|#)\s")


# Lines that say what a page is about without saying anything about it: "Raises an auditing event
# shutil.rmtree with arguments path, dir_fd." repeats the function's name, and so wins on term overlap the
# sentence that answers (issue 23). "Changed in version 3.8: ..." states a fact, so it stays quotable.
_NEVER_ANSWERS = re.compile(
    r"\W*(raises\s+an\s+auditing\s+event|see\s+also\b|availability:|(for\s+)?example:?\s*$)", re.I
)


def never_answers(text: str) -> bool:
    """True for a line that only points at things (an auditing-event note, "See also", "Example:")."""
    return bool(_NEVER_ANSWERS.match(text))


_PLACEHOLDER = re.compile(r"<[^<>]*>")


def echoes(text: str, question_terms: frozenset[str]) -> bool:
    """True for a code line that names only what the question names: it tells nothing the question did not.

    "git stash branch <branchname> [<stash>]" (a synopsis line) for "What does git stash branch <name> do?".
    Placeholders (``<branchname>``) are set aside; a value (``mode=0o666``) is not, and may be the answer.
    """
    if not (holds_code(text) or _PLACEHOLDER.search(text)):  # prose repeating the question may say yes or no
        return False
    terms = set(tokenize(_PLACEHOLDER.sub(" ", text)))
    return bool(terms) and terms <= question_terms


# An enumerator that closes a bracket it never opened: "a) ...", "2) ...".
_ENUMERATOR = re.compile(r"\W*\w{1,3}\)\s")
_PAIRS = {")": "(", "]": "["}


def is_fragment(text: str) -> bool:
    """True for a piece of a sentence or of code cut from its start or end.

    It ends where no sentence ends (code lines aside, which may), or it closes a bracket it never opened:
    "2D graphs) where only an approximate size ..." lost its start at a page's line break, and
    "PosixPath('build/lib/pathlib.py')]" is the last line of an example's output.
    """
    if _DANGLING.search(text.rstrip()) and not _PROMPT.match(text):
        return True
    if _ENUMERATOR.match(text):
        return False
    depth = {opener: 0 for opener in _PAIRS.values()}
    for char in text:
        if char in depth:
            depth[char] += 1
        elif char in _PAIRS:
            depth[_PAIRS[char]] -= 1
            if depth[_PAIRS[char]] < 0:
                return True
    return False


# "If the script exits with this code, ..." is about the code the sentence before names ("exit code 125").
_DEMONSTRATIVE = re.compile(r"\W*(?:[\w'’-]+\W+){0,7}?(?:this|these|such)\s+([a-z]{3,})", re.I)


def starts_with_pronoun(text: str) -> bool:
    """True when ``text`` opens with a pronoun that stands for something named before it."""
    return bool(_PRONOUN.match(text))


def _line_bounds(text: str, offset: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return start, len(text) if end < 0 else end


def opens_block(passage: Passage, sentence: ScoredSentence) -> bool:
    """True when ``sentence`` is the first of its line (a paragraph, a description, a list item)."""
    text, base = passage.text, passage.start
    line_start, _ = _line_bounds(text, sentence.start - base)
    return not text[line_start : sentence.start - base].strip(" \t•-*")


# Most lines an entry's term is written on ("-n" / "--dry-run" for the title "-n, --dry-run").
ENTRY_TERM_LINES = 4


# A term names a command, option, function or setting: "set-url", "--cleanup=<mode>", "os.path.exists(path)",
# "clean.requireForce", "pop [--index]". A heading is prose: "Figure size", "EXIT STATUS", "shutil — High-level
# file operations".
_CODE_WORD = re.compile(r"[-.]\S*|\S*[._=]\S*|[a-z][\w-]*")


def is_term(title: str) -> bool:
    """True when a section title names a command, option, function or setting rather than a topic."""
    for part in ARGUMENTS.sub(" ", title).split(","):
        words = [word for word in part.split() if word not in SIGNATURE_PREFIXES]
        if words and SECTION_NUMBER.fullmatch(words[0]):
            return False  # a numbered section: "4. Examples", "3.3 Figure size"
        if len(words) > 1 or (words and not _CODE_WORD.fullmatch(words[0])):  # "copytree example" is a topic
            return False
    return bool(title.strip())


def is_heading(text: str, section: str | None) -> bool:
    """True when ``text``, a sentence of ``section``, is one of its topic headings ("Write-Ahead Logging").

    A heading names what a section is about and answers nothing: quoted alone it is an answer of two words.
    A term (``is_term``: "set-url", "os.path.exists(path)") is a heading too, and may be what is asked for.
    """
    titles = heading_titles(section)
    words = _unnumbered(text)
    if not words:  # the number of a numbered heading, which the sentence splitter cut from its title ("11.")
        return any(title.split()[:1] == text.split() for title in titles)  # a bare value ("125") is no heading
    return any(words == _unnumbered(title) and not is_term(title) for title in titles)


def _unnumbered(title: str) -> str:
    """``title`` without its section number, its whitespace collapsed: "11. Recover  Data" -> "Recover Data"."""
    words = title.split()
    if words and SECTION_NUMBER.fullmatch(words[0]):
        words = words[1:]
    return " ".join(words)


def entry_term(passage: Passage, sentence: ScoredSentence) -> tuple[int, int] | None:
    """The document offsets of the term of the entry ``sentence`` sits in, when that term is in the passage.

    A web page's ``<dt>`` term is the title of a section that runs over its whole description, so a
    sentence deep in the description ("Sets first URL for remote <name> ...") is about the term at the
    section's start ("set-url"), lines above it. The term is the section's first lines, which read as its
    title joined with ", "; None when the section starts before the passage or with other text.
    """
    place = passage.chunk.place_at(sentence.start)
    title = innermost_heading(place.section)
    text, base = passage.text, passage.start
    if not is_term(title) or len(title) > MAX_LABEL_CHARS or place.start < base:
        return None
    start = cursor = place.start - base
    for _ in range(ENTRY_TERM_LINES):
        if cursor >= sentence.start - base:
            break
        end = text.find("\n", cursor)
        end = len(text) if end < 0 else end
        if _reads_as(text[start:end], title):
            return (place.start, base + end) if base + end < sentence.start else None
        cursor = end + 1
    return None


def _titles(passage: Passage, lines: str) -> bool:
    """True when ``lines`` are the title of the passage's section (its heading path's last part)."""
    return _reads_as(lines, innermost_heading(passage.section))


def _reads_as(lines: str, title: str) -> bool:
    """True when ``lines`` read as ``title``: a term's comma-separated parts a line each ("-n" / "--dry-run")."""
    return bool(title) and ", ".join(line.strip() for line in lines.splitlines() if line.strip()) == title


def label_of(passage: Passage, sentence: ScoredSentence) -> tuple[int, int] | None:
    """The document offsets of the label line above ``sentence``, or None.

    A label is the line directly above the line ``sentence`` opens (one line break between them; that line
    ends a sentence, as a description does), that ends no sentence, is at most ``MAX_LABEL_CHARS`` long,
    and opens its block itself (a blank line, or another label line, above it): a term above its
    description, not a wrapped line of prose.
    """
    text, base = passage.text, passage.start
    offset = sentence.start - base
    line_start, line_end = _line_bounds(text, offset)
    if text[line_start:offset].strip(" \t•-*") or line_start < 2 or text[line_start - 2] == "\n":
        return None
    if not ENDS_SENTENCE.search(text[line_start:line_end]):
        # A line that ends no sentence under others is one of a list of terms or code lines (a synopsis,
        # an example), not a description: the lines above it are its neighbours, not its label.
        return None
    first = None
    cursor = line_start - 1  # the line break ending the line above
    while cursor > 0:
        above_start = text.rfind("\n", 0, cursor) + 1
        line = text[above_start:cursor]
        if not line.strip() or len(line.strip()) > MAX_LABEL_CHARS or ENDS_SENTENCE.search(line):
            break
        first = above_start
        if above_start == 0 or (above_start >= 2 and text[above_start - 2] == "\n"):
            break  # the label opens its block (or the passage starts there: checked below)
        cursor = above_start - 1
    else:
        return None
    if first is None:
        return None
    # A passage that starts mid-page (a PDF's wrapped lines have no blank lines) gives no evidence that its
    # first line opens a block: only a blank line, the document's start, or its section's own title does (the
    # chunker starts a chunk at a term, which the HTML reader makes a section: "-m <n>, --mainline <n>").
    block_start = (first == 0 and (base == 0 or _titles(passage, text[:line_start]))) or (
        first >= 2 and text[first - 2] == "\n"
    )
    if not block_start:
        return None
    start = first + len(text[first:]) - len(text[first:].lstrip())
    end = line_start - 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (base + start, base + end) if end > start else None


# A sentence that goes on with the argument of the one before it: "SQLite does not have a separate Boolean
# storage class. Instead, Boolean values are stored as integers 0 (false) and 1 (true)."
_GOES_ON = re.compile(
    r"\W*(instead|however|but|rather|otherwise|in\s+(that|this|which)\s+case|that\s+is|therefore|thus|so|"
    r"this\s+means|as\s+a\s+result|only)\b",
    re.I,
)


def follow_up(passage: Passage, sentence: ScoredSentence) -> ScoredSentence | None:
    """The next sentence of ``sentence``'s paragraph when it goes on with its argument ("Instead, ..."), else None.

    A yes/no question's best sentence often says only "no" ("... does not have a separate Boolean storage
    class."); the sentence after it that opens with "Instead" or "However" says what is true instead.
    """
    following = _next_in_paragraph(passage, sentence)
    return following if following is not None and _GOES_ON.match(passage.sentence_text(following)) else None


def verdict_before(passage: Passage, sentence: ScoredSentence) -> ScoredSentence | None:
    """The sentence before ``sentence`` in its paragraph when that one says "not" of what the question asks.

    "... in this case, it is not removed from the stash list." answers "... is the stash entry dropped
    anyway?"; the best sentence after it ("You need to ... call git stash drop manually afterwards.") only
    says what to do next. Not when ``sentence`` says "not" itself, or the one before holds no question term.
    """
    before = _previous(passage, sentence)
    if before is None or not before.terms or "\n\n" in passage.text_between(before.end, sentence.start):
        return None
    if _SAYS_NOT.search(passage.sentence_text(sentence)) or not _SAYS_NOT.search(passage.sentence_text(before)):
        return None
    return before


# A verdict's "not" ("only" and "nor", negations to the ranker's negation_match, give no verdict).
_SAYS_NOT = re.compile(r"\b(not|no|never|cannot)\b|n't\b", re.I)


def names_it(passage: Passage, sentence: ScoredSentence) -> ScoredSentence | None:
    """The next sentence of ``sentence``'s paragraph when it names code and ``sentence`` names none.

    "Which pathlib class should I use?": "If you want to manipulate Windows paths on a Unix machine (or vice
    versa)." says when, and the sentence after it which ("... but you can instantiate PureWindowsPath.").
    """
    if _NAMES_CODE.search(passage.sentence_text(sentence)):
        return None
    following = _next_in_paragraph(passage, sentence)
    return following if following is not None and _NAMES_CODE.search(passage.sentence_text(following)) else None


# A name written as code: CamelCase, a dotted or snake_case name, a call, an option.
_NAMES_CODE = re.compile(r"\b[A-Z][a-z]+[A-Z]\w*|\b\w+\.\w+|\b\w+_\w+|\w\(\)|(?<![\w-])--?[a-zA-Z][\w-]+")


def _previous(passage: Passage, sentence: ScoredSentence) -> ScoredSentence | None:
    """The sentence before ``sentence`` in the passage, if any."""
    return next((s for s in reversed(passage.sentences) if s.start < sentence.start), None)


def _next_in_paragraph(passage: Passage, sentence: ScoredSentence) -> ScoredSentence | None:
    """The sentence after ``sentence`` in the passage, when no blank line parts them."""
    following = next((s for s in passage.sentences if s.start >= sentence.end), None)
    if following is None or "\n\n" in passage.text_between(sentence.end, following.start):
        return None
    return following


# A case of a condition the next sentence states another case of: "If it is set to 'raise', ... If it is set
# to 'ignore', ...", "If keepAspect is set to Aspect or true, ... If keepAspect is set to IgnoreAspect ...".
_CONDITION = re.compile(r"\W*(if|when|unless)\b", re.I)
ALTERNATIVE_WORDS = 3  # the opening words two cases share


def alternative(passage: Passage, sentence: ScoredSentence) -> ScoredSentence | None:
    """The next sentence of ``sentence``'s paragraph when both state a case of the same condition, else None.

    A conditional quoted alone answers for one case and hides the others the manual lists beside it: the
    default and the value that changes it, the setting that keeps a ratio and the one that does not.
    """
    text = passage.sentence_text(sentence)
    following = _next_in_paragraph(passage, sentence)
    if not _CONDITION.match(text) or following is None:
        return None
    opening = [word.lower() for word in text.split()[:ALTERNATIVE_WORDS]]
    other = [word.lower() for word in passage.sentence_text(following).split()[:ALTERNATIVE_WORDS]]
    return following if len(opening) == ALTERNATIVE_WORDS and opening == other else None


def antecedent(passage: Passage, sentence: ScoredSentence) -> ScoredSentence | None:
    """The sentence before ``sentence`` in the passage when ``sentence`` refers back to it, else None.

    It refers back when it opens with a pronoun, or speaks of "this / these / such" thing in its first words
    and the sentence before names that thing ("... exit code 125 ... If the script exits with this code").
    """
    text = passage.sentence_text(sentence)
    previous = _previous(passage, sentence)
    demonstrated = _DEMONSTRATIVE.match(text)
    named_before = (
        demonstrated is not None
        and previous is not None
        and re.search(rf"\b{re.escape(demonstrated.group(1))}", passage.sentence_text(previous), re.I) is not None
    )
    if not starts_with_pronoun(text) and not named_before:
        return None
    # A sentence that opens with a pronoun itself names nothing: it would only pad the answer.
    if previous is None or starts_with_pronoun(passage.sentence_text(previous)):
        return None
    return previous


# What a quote ending in a colon may bring along: the list or example it announces, within the passage.
INTRODUCED_SENTENCES = 3
INTRODUCED_CHARS = 400


def introduced(passage: Passage, start: int, end: int) -> list[ScoredSentence]:
    """The sentences the span ``start``-``end`` announces when it ends in a colon: the items or lines after it.

    "... capable of storing dates and times as TEXT, REAL, or INTEGER values:" quoted alone promises what it
    does not say; the items after it say it. At most ``INTRODUCED_SENTENCES`` and ``INTRODUCED_CHARS``
    (at least one), and only what the passage holds, so every quoted span stays exact.
    """
    if not passage.text_between(start, end).rstrip().endswith(":"):
        return []
    section = passage.chunk.place_at(end).section
    taken: list[ScoredSentence] = []
    size = 0
    for following in passage.sentences:
        if following.start < end:
            continue
        if passage.chunk.place_at(following.start).section != section:
            break  # the items end where the next section begins ("Zsort" / "Syntax" after a kdensity example)
        size += following.end - following.start
        if taken and (len(taken) == INTRODUCED_SENTENCES or size > INTRODUCED_CHARS):
            break
        taken.append(following)
    while taken and passage.sentence_text(taken[-1]).rstrip().endswith(":"):
        taken.pop()  # an item that announces more would leave the quote hanging again
    return taken


# A sentence a hard line break or a code line cut from its start opens with a lower-case word that only goes
# on with it: "binary-releases.php" / "is required to support output formats ...", "varname = value # FIXED"
# / "means that the variable is treated as a 'fixed parameter'". (Not "gnuplot will open ...": a name.)
_CONTINUES = re.compile(
    r"(is|are|was|were|means|mean|and|or|but|which|that|where|whereas|with|without|to|of|for|in|on|by|as|than|"
    r"then|can|may|must|should|will|would|does|do|has|have)\b"
)
CONTINUED_LINES = 2


def continued_from(passage: Passage, sentence: ScoredSentence) -> tuple[int, int] | None:
    """The document offsets of the start ``sentence`` goes on from, when it opens with a continuing word.

    The lines before it in its paragraph that end no sentence (a URL's tail, a code line inside the sentence,
    a "... in the form" lead-in), back to the sentence end or blank line before them, when that is at most
    ``CONTINUED_LINES`` lines up; None otherwise (the sentence is then quoted as it is).
    """
    if not _CONTINUES.match(passage.sentence_text(sentence)):
        return None
    before = [s for s in passage.sentences if s.end <= sentence.start]
    taken: list[ScoredSentence] = []
    for previous in reversed(before):
        span = passage.text_between(previous.start, sentence.start)
        if "\n\n" in span or ENDS_SENTENCE.search(passage.sentence_text(previous)):
            break  # the sentence's start is found: the lines taken are all of it
        if span.count("\n") > CONTINUED_LINES:
            return None  # deep in a block of syntax lines ("show view" / "where <rot x> ..."): no start to quote
        taken.append(previous)
    else:
        if taken and passage.start > 0:
            return None  # the passage may start inside the sentence: its start is not all here
    return (taken[-1].start, taken[0].end) if taken else None


def quote_text(passage: Passage, spans: list[tuple[int, int]]) -> str:
    """The text of ``spans`` (in order) as one quote: wrapped lines read as one, and a skip shown as "…".

    An entry's term quoted above a sentence deep in its description ("set-url … Sets first URL for remote
    ...") is not next to it in the document: the ellipsis says that text between was left out.
    """
    text = reflow(passage.text_between(*spans[0]))
    for (_, previous_end), (start, end) in itertools.pairwise(spans):
        skipped = start > previous_end and passage.text_between(previous_end, start).strip()
        text += (" … " if skipped else " ") + reflow(passage.text_between(start, end))
    return text
