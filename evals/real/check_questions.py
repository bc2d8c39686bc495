#!/usr/bin/env python3
"""Check the hand-written questions in evals/real/questions/*.jsonl against the fetched documents.

For every item: the schema ``rag eval`` reads (see rag/evaluate.py) plus this set's rules: a unique ``id``, a
known ``kind``, ``corpus`` equal to the file's name, ``sources`` that start with the corpus name; answerable
items name at least one source, and unanswerable ones (kinds ``unanswerable`` and ``near_miss``) have empty
``answers_all`` and ``sources``. For every answerable item, each group of ``answers_all`` must occur (one of its
alternatives, case-insensitively, whitespace folded, as ``rag eval`` compares) in the visible text of one of
its sources: HTML with its tags stripped (as a browser shows it, ``<script>``/``<style>`` dropped), PDFs via
``pdftotext`` (poppler-utils, plain mode) when it is installed, otherwise skipped with a notice. An item with
``pages`` must have its first group on one of those (1-based, physical) pages.

Warnings (not failures): an alternative shorter than 3 characters (2 for an option such as ``-f``), a question
that already contains its first group's answer, and a question sharing 8 or more consecutive words with its
source (copied wording).

Usage::

    python3 evals/real/check_questions.py                 # questions/*.jsonl against docs/
    python3 evals/real/check_questions.py questions/git.jsonl --docs evals/real/docs

Exit status 0 when every check passed, 1 otherwise. Standard library only (plus the optional pdftotext).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANSWERABLE_KINDS = ("value", "definition", "procedure", "which", "yesno", "multipart")
UNANSWERABLE_KINDS = ("unanswerable", "near_miss")
KINDS = ANSWERABLE_KINDS + UNANSWERABLE_KINDS
COPY_WORDS = 8

# The same folding as rag.evaluate._fold: soft hyphens dropped, a word hyphenated at a line end joined,
# line breaks made spaces, then lower case with whitespace runs collapsed.
_HYPHENATED = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[a-z])")
_BREAK = re.compile(r"[ \t]*\n[ \t]*")


def fold(text: str) -> str:
    """``text`` as ``rag eval`` compares it: reflowed, lower case, whitespace runs made one space."""
    text = _BREAK.sub(" ", _HYPHENATED.sub("", text.replace("\u00ad", "")))
    return " ".join(text.lower().split())


class _VisibleText(HTMLParser):
    """The text a browser shows: tags stripped, script/style dropped, a break around block elements."""

    HIDDEN = frozenset({"script", "style", "template", "noscript"})
    BLOCKS = frozenset(
        "address article aside blockquote br dd div dl dt figcaption figure footer form h1 h2 h3 h4 h5 h6 header "
        "hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(path: Path) -> str:
    """The visible text of an HTML file, with a blank line around each block element."""
    parser = _VisibleText()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return "".join(parser.parts)


def pdf_pages(path: Path) -> list[str] | None:
    """The text of each page (pdftotext's form feeds split them), or None without pdftotext."""
    if shutil.which("pdftotext") is None:
        return None
    result = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=False)
    if result.returncode != 0:
        raise OSError(f"pdftotext failed on {path}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("utf-8", errors="replace").split("\f")


class Documents:
    """Folded text of each source, read once; None for a PDF when pdftotext is missing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.whole: dict[str, str | None] = {}
        self.pages: dict[str, list[str] | None] = {}

    def text(self, source: str) -> str | None:
        """The folded text of ``source``; None for a PDF without pdftotext."""
        if source not in self.whole:
            path = self.root / source
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: run python3 evals/real/fetch.py")
            if path.suffix.lower() == ".pdf":
                pages = pdf_pages(path)
                self.pages[source] = None if pages is None else [fold(page) for page in pages]
                self.whole[source] = None if pages is None else fold("\n".join(pages))
            else:
                self.whole[source] = fold(html_text(path))
        return self.whole[source]

    def page_texts(self, source: str) -> list[str] | None:
        """The folded text of each page of a PDF ``source``; None otherwise."""
        self.text(source)
        return self.pages.get(source)


def check_schema(raw: object, corpus: str | None) -> list[str]:
    """Problems with one item's fields, as short phrases."""
    if not isinstance(raw, dict):
        return ["not a JSON object"]
    problems = []
    for key in ("id", "question", "kind", "corpus"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            problems.append(f"'{key}' must be a non-empty string")
    if not isinstance(raw.get("answerable"), bool):
        problems.append("'answerable' must be true or false")
    groups = raw.get("answers_all")
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and g and all(isinstance(a, str) and a.strip() for a in g) for g in groups
    ):
        problems.append("'answers_all' must be a list of non-empty lists of non-empty strings")
        groups = None
    sources = raw.get("sources")
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        problems.append("'sources' must be a list of paths relative to the docs folder")
        sources = None
    pages = raw.get("pages", [])
    if not isinstance(pages, list) or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in pages):
        problems.append("'pages' must be a list of 1-based page numbers")
    kind = raw.get("kind")
    if isinstance(kind, str) and kind not in KINDS:
        problems.append(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    if corpus is not None and raw.get("corpus") != corpus:
        problems.append(f"'corpus' is {raw.get('corpus')!r} in {corpus}.jsonl")
    if problems:
        return problems
    if raw["answerable"]:
        if kind not in ANSWERABLE_KINDS:
            problems.append(f"an answerable item cannot have kind {kind!r}")
        if not groups:
            problems.append("an answerable item needs at least one group in 'answers_all'")
        if not sources:
            problems.append("an answerable item needs at least one source")
        if kind == "multipart" and groups and len(groups) < 2:
            problems.append("a multipart item needs at least two groups")
    else:
        if kind not in UNANSWERABLE_KINDS:
            problems.append(f"an unanswerable item must have kind unanswerable or near_miss, not {kind!r}")
        if groups or sources or pages:
            problems.append("an unanswerable item must have empty 'answers_all', 'sources' and 'pages'")
    for source in sources or []:
        if not source.startswith(f"{raw['corpus']}/"):
            problems.append(f"source {source!r} is not under the corpus folder {raw['corpus']}/")
    return problems


def check_evidence(item: dict, docs: Documents) -> tuple[list[str], list[str], bool]:
    """(problems, warnings, skipped) for one answerable item's answers against its sources."""
    problems: list[str] = []
    warnings: list[str] = []
    groups = [[fold(alt) for alt in group] for group in item["answers_all"]]
    for group, original in zip(groups, item["answers_all"], strict=True):
        for alt, text in zip(group, original, strict=True):
            if len(alt) < 2 or (len(alt) < 3 and not alt.startswith("-")):
                warnings.append(f"short alternative {text!r} may match by accident")
    question = fold(item["question"])
    if any(alt in question for alt in groups[0]):
        warnings.append("the question already contains its first group's answer")
    texts = {source: docs.text(source) for source in item["sources"]}
    readable = {source: text for source, text in texts.items() if text is not None}
    if not readable:
        return problems, warnings, True
    if not any(all(any(alt in text for alt in group) for group in groups) for text in readable.values()):
        missing = [
            original
            for group, original in zip(groups, item["answers_all"], strict=True)
            if not any(any(alt in text for alt in group) for text in readable.values())
        ]
        if missing:
            problems.append(f"not in any source: {missing}")
        else:
            problems.append("every group occurs in some source, but no single source holds them all")
    if item.get("pages"):
        on_pages = False
        for source in item["sources"]:
            pages = docs.page_texts(source)
            if pages is None:
                continue
            wanted = [pages[p - 1] for p in item["pages"] if p - 1 < len(pages)]
            on_pages = on_pages or any(alt in page for alt in groups[0] for page in wanted)
        if not on_pages and any(docs.page_texts(s) is not None for s in item["sources"]):
            problems.append(f"first group not found on pages {item['pages']}")
    words = question.split()
    for start in range(0, max(0, len(words) - COPY_WORDS + 1)):
        window = " ".join(words[start : start + COPY_WORDS])
        if any(window in text for text in readable.values()):
            warnings.append(f"copies source wording: {window!r}")
            break
    return problems, warnings, False


def main(argv: list[str] | None = None) -> int:
    """Check the files, print problems and counts; 0 when there is no error."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="question files (default: questions/*.jsonl)")
    parser.add_argument("--docs", type=Path, default=HERE / "docs", help="the fetched documents (default: %(default)s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")
    args = parser.parse_args(argv)
    files = args.files or sorted((HERE / "questions").glob("*.jsonl"))
    try:
        corpora = set(json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["corpora"])
    except (OSError, ValueError, KeyError):
        corpora = set()
    if shutil.which("pdftotext") is None:
        print("notice: pdftotext (poppler-utils) is not installed: answers in PDF sources are not checked")
    docs = Documents(args.docs)
    errors = warnings = skipped = 0
    seen: dict[str, str] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for path in files:
        corpus = path.stem if path.stem in corpora else None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                print(f"ERROR {where}: invalid JSON ({exc.msg})")
                errors += 1
                continue
            problems = check_schema(item, corpus)
            label = f"{where} {item.get('id', '?') if isinstance(item, dict) else '?'}"
            if not problems:
                if item["id"] in seen:
                    problems.append(f"duplicate id (first at {seen[item['id']]})")
                seen.setdefault(item["id"], where)
                counts[(item["corpus"], item["kind"])] += 1
            notes: list[str] = []
            if not problems and item["answerable"]:
                try:
                    found, notes, was_skipped = check_evidence(item, docs)
                except (OSError, FileNotFoundError) as exc:
                    found, notes, was_skipped = [str(exc)], [], False
                problems.extend(found)
                skipped += was_skipped
            for problem in problems:
                print(f"ERROR {label}: {problem}")
            errors += len(problems)
            warnings += len(notes)
            if not args.quiet:
                for note in notes:
                    print(f"warning {label}: {note}")
    names = sorted({corpus for corpus, _ in counts})
    width = max([len("corpus"), *map(len, names)])
    print()
    print(f"{'corpus':<{width}} " + " ".join(f"{kind:>12}" for kind in KINDS) + f" {'total':>6} {'unans.':>6}")
    for name in [*names, "all"]:
        row = [sum(n for (c, k), n in counts.items() if (name == "all" or c == name) and k == kind) for kind in KINDS]
        print(
            f"{name:<{width}} "
            + " ".join(f"{n:>12}" for n in row)
            + f" {sum(row):>6} {sum(row[len(ANSWERABLE_KINDS) :]):>6}"
        )
    print()
    summary = f"{sum(counts.values())} items, {errors} error(s), {warnings} warning(s)"
    if skipped:
        summary += f", {skipped} answerable item(s) with PDF sources not checked (no pdftotext)"
    print(summary)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
