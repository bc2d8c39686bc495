"""Readers give clean prose with exact offsets: web pages as a browser shows them, PDFs without page furniture."""

from __future__ import annotations

import dataclasses
import re

from rag.answer.answerers.extractive import ExtractiveAnswerer
from rag.answer.answerers.quoting import follow_up, label_of
from rag.config import ReadOptions
from rag.ingest.chunking import Chunk, Place, chunk_document, reflow, split_sentences
from rag.ingest.documents import Document
from rag.ingest.readers.html import READER as HTML
from rag.ingest.readers.layout import furniture, is_navigation_page
from rag.ingest.readers.pdf import _page_text
from rag.ingest.terms import tokenize
from rag.retrieve.passages import Passage, Passages, ScoredSentence

SPHINX = """<html><head><title>shutil</title><style>p {color: red}</style></head><body>
<div class="related" role="navigation"><ul><li><a href="a">index</a></li><li><a href="b">modules</a></li>
<li><a href="c">next</a></li></ul></div>
<div class="body" role="main">
<h1><code>shutil</code> — High-level file operations<a class="headerlink" href="#x">¶</a></h1>
<p>The <code>shutil</code> module offers a number of
   high-level operations on files and collections of
   files.</p>
<dl class="py function">
<dt class="sig" id="shutil.copytree"><span class="pre">shutil.</span><span class="pre">copytree</span>(<em>src</em>,
<em>dst</em>, <em>dirs_exist_ok</em>=<span>False</span>)<a class="headerlink" href="#s">¶</a></dt>
<dd><p>Recursively copy an entire directory tree rooted at <em>src</em> to a directory
named <em>dst</em> and return the destination directory.</p>
<p>If <em>exist_ok</em> is false (the default), a <code>FileExistsError</code> is raised.</p></dd></dl>
<div class="highlight"><pre>&gt;&gt;&gt; p = PureWindowsPath('c:/foo/bar/setup.py')
&gt;&gt;&gt; p.parents[0]
PureWindowsPath('c:/foo/bar')
</pre></div>
<table><tr><th>Limit</th><th>Value</th></tr><tr><td>SQLITE_MAX_LENGTH</td><td>1 000 000 000</td></tr></table>
<p>WAL <s>cannot</s> can be used on read-only media.</p>
</div>
<div class="sphinxsidebar" role="navigation"><h3>Table of Contents</h3><p>sidebar text</p></div>
<div class="footer">© Copyright 2001-2023, Python Software Foundation.</div>
</body></html>"""


def test_a_web_page_reads_as_a_browser_shows_it_without_markdown() -> None:
    extracted = HTML.read(SPHINX.encode(), ReadOptions())
    text = extracted.text
    # Whitespace collapsed as a browser does: the source's line breaks do not cut the paragraph.
    assert "The shutil module offers a number of high-level operations on files and collections of files." in text
    # No Markdown escapes, emphasis or pilcrows; identifiers keep their underscores.
    assert not re.search(r"\\[_\[\]>*]|\*\w|¶", text)
    assert "If exist_ok is false (the default), a FileExistsError is raised." in text
    # The term stays directly above its description: one line break, no blank line.
    assert (
        "shutil.copytree(src, dst, dirs_exist_ok=False)\nRecursively copy an entire directory tree rooted at src "
        "to a directory named dst and return the destination directory." in text
    )
    # A code block is kept verbatim, line by line, as a block of its own.
    assert (
        "\n\n>>> p = PureWindowsPath('c:/foo/bar/setup.py')\n>>> p.parents[0]\nPureWindowsPath('c:/foo/bar')\n\n"
        in text
    )
    assert "Limit\tValue\nSQLITE_MAX_LENGTH\t1 000 000 000" in text  # a table row a line
    assert "WAL can be used on read-only media." in text  # struck-through text is superseded, left out
    for furniture_text in ("index", "modules", "sidebar text", "Copyright", "color: red"):
        assert furniture_text not in text, furniture_text
    # Headings are sections, and so is each term, up to the end of its list: a citation names its entry.
    page, entry = "shutil — High-level file operations", "shutil.copytree(src, dst, dirs_exist_ok=False)"
    assert [s.title for s in extracted.sections] == [page, f"{page} > {entry}", page]
    assert [s.start for s in extracted.sections[:2]] == [text.index("shutil — High-level"), text.index(entry)]
    after_list = extracted.sections[2]
    assert text[after_list.start : after_list.end].strip().startswith(">>> p = PureWindowsPath")


def test_every_line_of_a_web_page_is_whole_so_sentences_end_at_line_breaks() -> None:
    extracted = HTML.read(SPHINX.encode(), ReadOptions())
    document = Document("shutil.html", extracted.text, "0" * 64, kind="html", sections=extracted.sections)
    sentences, chunks = chunk_document(document, chunk_size=300, chunk_overlap=60)
    texts = [document.text[s.start : s.end] for s in sentences]
    assert "shutil.copytree(src, dst, dirs_exist_ok=False)" in texts  # the term is a line of its own
    assert ">>> p.parents[0]" in texts
    for chunk in chunks:
        assert document.text[chunk.start : chunk.end] == chunk.text


def test_a_command_continued_with_a_backslash_is_one_line_to_its_end() -> None:
    # git-log's example: quoted alone, "$ git log -2 --pretty=format:%h 4da45bef \" was cut mid-command.
    text = (
        "For example:\n\n$ git log -2 --pretty=format:%h 4da45bef \\\n  | perl -pe 's/x/y/'\n4da45be\n\n"
        "A LaTeX line break ends its line: a \\\\\nbc\n\nSo does a path: C:\\TEMP\\\nNext."
    )
    for wrapped in (False, True):
        lines = [text[s.start : s.end] for s in split_sentences(text, wrapped=wrapped)]
        assert "$ git log -2 --pretty=format:%h 4da45bef \\\n  | perl -pe 's/x/y/'" in lines
        assert "4da45be" in lines
    lines = [text[s.start : s.end] for s in split_sentences(text, wrapped=False)]
    assert "bc" in lines and "Next." in lines


def test_sentences_keep_identifiers_and_abbreviations_and_end_at_cjk_full_stops() -> None:
    text = (
        "Use os.path.join() or read.table in v1.2 of the tool. See e.g. Fig. 3 for the details, cf. Sect. 2 "
        "below. For a list of the names, see show colornames (p. 168). Set p. As shown by John D. Hobby. It "
        "is plan B. Then stop. See Appendix A. The next section covers it. "
        "이번 회의는 3월 5일 서울 본사에서 열렸다. 참석자는 열 명이었다. "
        "会議は東京で行われた。参加者は十人だった？はい。"
    )
    assert [text[s.start : s.end] for s in split_sentences(text)] == [
        "Use os.path.join() or read.table in v1.2 of the tool.",
        "See e.g. Fig. 3 for the details, cf. Sect. 2 below.",
        "For a list of the names, see show colornames (p. 168).",  # gnuplot.pdf's page references
        "Set p.",  # "p." alone may be a variable
        "As shown by John D. Hobby.",  # an initial
        "It is plan B.",
        "Then stop.",
        "See Appendix A.",
        "The next section covers it.",
        "이번 회의는 3월 5일 서울 본사에서 열렸다.",
        "참석자는 열 명이었다.",
        "会議は東京で行われた。",
        "参加者は十人だった？",
        "はい。",
    ]


GNUPLOT_PAGES = [
    "{n} gnuplot 5.4 \nThe history is kept in a file; its size is set with set history size. A typical case is",
    "gnuplot 5.4 {n} \nthe use of integers to construct file names. Substrings can be specified.",
    "{n} gnuplot 5.4 \nPlot styles are chosen with the with keyword. Each style has its own options and",
    "gnuplot 5.4 {n} \ndefaults, listed below. The default style is points.",
]


def test_running_heads_and_page_numbers_are_found_and_never_body_lines() -> None:
    pages = [page.format(n=n) for n, page in enumerate(GNUPLOT_PAGES, start=36)]
    edges = furniture(pages)
    assert [page[:head] for page, (head, _) in zip(pages, edges, strict=True)] == [
        "36 gnuplot 5.4 ",
        "gnuplot 5.4 37 ",
        "38 gnuplot 5.4 ",
        "gnuplot 5.4 39 ",
    ]
    assert all(foot == len(page) for page, (_, foot) in zip(pages, edges, strict=True))
    chapter = ["85\n7 LaTeX usage\nAsymptote comes with a style file.", "Chapter 7: LaTeX usage 86\nMore text here."]
    assert furniture(chapter)[0][0] == 2  # a bare page number opening a chapter


def test_a_running_head_ending_in_the_page_s_own_label_is_furniture_even_when_seen_once() -> None:
    # Asymptote's manual heads odd pages with "Chapter N: <title> <page>": a two-page chapter shows its head
    # once, so it never recurs, and it was left between "... in the user's" and "home directory (...)".
    pages = [
        "171 Asymptote: the Vector Graphics Language \nA history of the most recent commands is kept in the user's",
        "Chapter 10: Interactive mode 172 \nhome directory (unless -localhistory was specified).",
        "Chapter 11: Graphical User Interface 173 \nTo use the interface, install Python.",
        "174 Asymptote: the Vector Graphics Language \nMore text.",
        "175 Asymptote: the Vector Graphics Language \nMore text.",
    ]
    labels = ["171", "172", "173", "174", "175"]
    edges = furniture(pages, labels)
    assert pages[1][: edges[1][0]] == "Chapter 10: Interactive mode 172 "
    assert pages[2][: edges[2][0]] == "Chapter 11: Graphical User Interface 173 "
    # A chapter's title that opens with a number equal to the page's label is body text, not a head.
    assert furniture(["1 Description\nAsymptote is a language.", "2 Tutorial\nText."], ["1", "2"])[0][0] == 0


def test_contents_and_index_pages_are_recognised() -> None:
    contents = "CONTENTS gnuplot 5.4 3\nCanvas size 32\nComments 33\nEscape sequences . . . . . . 35\nEnvironment 35"
    index = "Index 182\nBezier patch . . . . . . 136\nbezulate . . . . . 136\nabs, 37\nclip, 24, 81, 137\ncd, 87"
    body = (
        "The set history size command sets the number of lines kept, 500 by default.\n"
        "plot 'data' using 1:2 with lines\nset xrange [0:10]\nThe next example uses two columns.\n"
    )
    assert is_navigation_page(contents) and is_navigation_page(index)
    assert not is_navigation_page(body)


def test_a_pdf_page_keeps_pdfium_offsets_with_bullets_and_soft_hyphens() -> None:
    class _TextPage:
        def get_text_range(self) -> str:
            return "\x88 Integer overflow is de\ufffetected.\r\nNext line\x85here"

        def close(self) -> None:
            pass

    class _Page:
        def get_textpage(self) -> _TextPage:
            return _TextPage()

    text = _page_text(_Page())
    assert text == "• Integer overflow is de\u00adtected. \nNext line here"
    assert len(text) == len(_TextPage().get_text_range())  # one character for one: PDFium's indexes hold
    assert reflow(text) == "• Integer overflow is detected. Next line here"


def test_a_sentence_that_runs_over_a_page_break_reads_as_one_sentence_without_the_running_head() -> None:
    pages = [page.format(n=n) for n, page in enumerate(GNUPLOT_PAGES, start=36)]
    from rag.ingest.readers.base import PageSpan

    edges = furniture(pages)
    parts, spans, offset = [], [], 0
    for i, (page, (head, foot)) in enumerate(zip(pages, edges, strict=True)):
        if i:
            parts.append(" " if head else "\n")
        parts.append(" " * head + page[head:foot] + " " * (len(page) - foot))
        spans.append(PageSpan(offset, offset + len(page), 36 + i))
        offset += len(page) + 1
    document = Document("gnuplot.pdf", "".join(parts), "0" * 64, kind="pdf", pages=tuple(spans))
    sentences, _ = chunk_document(document)
    texts = [reflow(document.text[s.start : s.end]) for s in sentences]
    assert "A typical case is the use of integers to construct file names." in texts
    assert not any("gnuplot 5.4" in t for t in texts)


def _passage_of(text: str) -> Passage:
    sentences = split_sentences(text, wrapped=False)
    chunk = Chunk(id="c0", source="git-stash.html", start=0, end=len(text), text=text, sentences=tuple(sentences))
    scored = tuple(ScoredSentence(s.start, s.end, 0.5) for s in sentences)
    return Passage(chunk=chunk, score=0.9, rank=1, sentences=scored)


def _sectioned(text: str, section: str, later: dict[int, str], term_weights: dict[str, float]) -> Passages:
    """``text`` as the one passage retrieved, in ``section``, and from each offset of ``later`` in its section."""
    passage = _passage_of(text)
    places = tuple(Place(offset, section=title) for offset, title in sorted(later.items()))
    chunk = dataclasses.replace(passage.chunk, section=section, places=places)
    passages = Passages([dataclasses.replace(passage, chunk=chunk)])
    passages.term_weights = term_weights
    return passages


def test_a_description_is_quoted_with_its_term_and_a_code_line_with_no_other_lines() -> None:
    text = (
        "SYNOPSIS\n\ngit stash list [<log-options>]\ngit stash drop [-q | --quiet] [<stash>]\n"
        "git stash branch <branchname> [<stash>]\n\n"
        "-u\n--include-untracked\nAll untracked files are also stashed and then cleaned up.\n"
    )
    passage = _passage_of(text)
    by_text = {passage.sentence_text(s): s for s in passage.sentences}
    label = label_of(passage, by_text["All untracked files are also stashed and then cleaned up."])
    assert label is not None and text[label[0] : label[1]] == "-u\n--include-untracked"
    # A synopsis line is one of a list of code lines: the lines above it are neighbours, not its label.
    assert label_of(passage, by_text["git stash branch <branchname> [<stash>]"]) is None


def test_a_no_is_followed_by_the_sentence_that_says_what_is_so_instead() -> None:
    text = (
        "SQLite does not have a separate Boolean storage class. Instead, Boolean values are stored as integers 0 "
        "(false) and 1 (true).\n\nSQLite recognizes the keywords TRUE and FALSE."
    )
    passage = _passage_of(text)
    first, second, _next_paragraph = passage.sentences
    assert follow_up(passage, first) == second
    assert follow_up(passage, second) is None  # the next paragraph is not the same argument


def test_a_value_asked_under_a_qualifier_needs_a_sentence_stating_it() -> None:
    from rag.answer.answerers.demands import states_qualified_value
    from rag.answer.answerers.extractive import Unit, _unit_text

    text = (
        "Manage the set of repositories whose branches you track.\n\n"
        "The maximum number of attached databases cannot be increased above 125.\n\n"
        "One can change the spline tension from its default value of 1 to any value greater than or equal to 0.75."
        "\n\nPath.touch(mode=0o666, exist_ok=True)\nCreate a file at this given path."
    )
    passage = _passage_of(text)
    # Each sentence as a unit reads: with the label line it is quoted under.
    units = {
        passage.sentence_text(s): _unit_text(Unit(0.5, s, passage, label_of(passage, s), frozenset()))
        for s in passage.sentences
    }
    about_remotes = [units["Manage the set of repositories whose branches you track."]]
    assert not states_qualified_value("What is the maximum number of remotes a repository can have?", about_remotes)
    assert states_qualified_value("Which remotes can a repository have?", about_remotes)  # no qualifier asked
    # A maximum and a value, but of something else (another manual's limit, retrieved for "maximum number of").
    databases = units["The maximum number of attached databases cannot be increased above 125."]
    assert not states_qualified_value("What is the maximum number of remotes a repository can have?", [databases])
    assert states_qualified_value("What is the maximum number of attached databases?", [databases])
    tension = [units[passage.sentence_text(passage.sentences[2])]]
    assert states_qualified_value("What is the default spline tension, and the smallest I can set?", tension)
    touch = [units["Create a file at this given path."]]  # quoted below its signature, which gives the default
    assert states_qualified_value("What permission mode does Path.touch() use by default?", touch)
    # gnuplot.pdf states the default of a multiplot layout in words, with no number or literal.
    layout = _passage_of("Default is rowsfirst and downwards.\n\nThe grid is filled rows first or columns first.\n")
    in_words, no_default = (layout.sentence_text(s) for s in layout.sentences)
    question = "With set multiplot layout, in which order is the grid filled by default?"
    assert states_qualified_value(question, [in_words])
    assert not states_qualified_value(question, [no_default])


def test_a_line_that_only_points_at_things_is_never_quoted() -> None:
    from rag.answer.answerers.extractive import candidates

    text = (
        "shutil.rmtree(path, ignore_errors=False)\nRaises an auditing event shutil.rmtree with arguments path, dir_fd."
        "\n\nDelete an entire directory tree; path must point to a directory.\n\nChanged in version 3.8: On Windows, "
        "will no longer delete the contents of a directory junction."
    )
    quoted = [
        unit.passage.sentence_text(unit.sentence)
        for unit, _ in candidates("What does shutil.rmtree do?", [_passage_of(text)])
    ]
    assert "Delete an entire directory tree; path must point to a directory." in quoted
    assert not any(line.startswith("Raises an auditing event") for line in quoted)
    assert any(line.startswith("Changed in version 3.8") for line in quoted)  # it states a fact


def test_a_code_line_naming_only_what_the_question_names_is_never_quoted() -> None:
    # git-stash.html: the synopsis line was quoted as half of the answer to "What does git stash branch <name> do?"
    from rag.answer.answerers.extractive import candidates

    text = (
        "git stash branch <branchname> [<stash>]\n\nbranch <branchname> [<stash>]\nCreates and checks out a new "
        "branch named <branchname> starting from the commit at which the <stash> was originally created.\n\n"
        "Path.touch(mode=0o666)\n\nSQLite does not have a Boolean storage class."
    )
    passages = _sectioned(text, "DESCRIPTION", {}, {})

    def quoted(question: str) -> list[str]:
        passages.term_weights = {term: 1.0 for term in tokenize(question)}
        return [unit.passage.sentence_text(unit.sentence) for unit, _ in candidates(question, passages)]

    lines = quoted("What does git stash branch <name> do?")
    assert "git stash branch <branchname> [<stash>]" not in lines
    assert any(line.startswith("Creates and checks out") for line in lines)
    # A value is not set aside like a placeholder: the line holds what "What mode ..." asks.
    assert "Path.touch(mode=0o666)" in quoted("What mode does Path.touch use?")
    assert "Path.touch(mode=0o666)" not in quoted("Does Path.touch use mode 0o666?")  # it only repeats the question
    # Prose that repeats the question's words still answers it ("does not").
    assert "SQLite does not have a Boolean storage class." in quoted("Does SQLite have a Boolean storage class?")


def test_the_items_a_colon_announces_end_where_the_next_section_begins() -> None:
    from rag.answer.answerers.quoting import introduced

    # gnuplot.pdf: "... should be provided in the plot command:" brought its example and then the next
    # section's heading lines ("Zsort", "Syntax") into the quote.
    text = (
        "In such cases the period should be provided in the plot command:\n"
        "plot $ANGULAR_DAT smooth kdensity period 2*pi with lines\n"
        "Zsort\nSyntax\nplot FOO using x:y:z:color smooth zsort with points lc palette\n"
    )
    passages = _sectioned(text, "Smooth > Kdensity", {text.index("Zsort"): "Smooth > Zsort"}, {})
    [passage] = passages
    intro = passage.sentences[0]
    items = [passage.sentence_text(s) for s in introduced(passage, intro.start, intro.end)]
    assert items == ["plot $ANGULAR_DAT smooth kdensity period 2*pi with lines"]


def test_a_long_line_nearby_does_not_cut_the_full_lines_of_a_wrapped_paragraph() -> None:
    # asymptote.pdf, "10 Interactive mode": one 179-character line (it ran into the margin) made the
    # 87-character lines around it look short, so "it is not necessary" ended a sentence there and
    # "to terminate input lines with a semicolon." was quoted alone, saying the opposite.
    lines = [
        f"Filler line {n} of a hard-wrapped manual page, written to the width that this text has." for n in range(12)
    ]
    paragraph = (
        "When\n"
        "the -multiline option is disabled (the default), each line must be a complete Asymptote\n"
        "statement (unless explicitly continued by a final backslash character); it is not necessary\n"
        "to terminate input lines with a semicolon. If one assigns settings.multiline=true, interactive code can"
        " be entered over multiple lines; in this mode, the automatic termination of\n"
        "interactive input lines by a semicolon is inhibited.\n"
    )
    text = "\n".join(lines) + "\n\n" + paragraph
    sentences = [text[s.start : s.end] for s in split_sentences(text)]
    assert any("it is not necessary\nto terminate input lines with a semicolon." in s for s in sentences)


def test_a_syntax_or_declaration_line_of_a_wrapped_page_is_not_joined_to_the_prose_after_it() -> None:
    # gnuplot.pdf's syntax lines and asymptote.pdf's declarations are as wide as the prose around them:
    # joined to the next line, "{default} When leaving gnuplot ..." was one sentence, never quotable alone.
    prose = "This paragraph of a manual page is wrapped at the width of the page, as PDF text always is."
    text = "\n".join(
        [
            prose,
            prose,
            "To construct contours of a function on a box at the resolution you need, use the routine",
            "guide[][] contour(real f(real, real), pair a, pair b, real[] c, int nx=ngraph, int ny=nx,",
            "interpolate join=operator --, int subsample=1, bool adaptive=false, real tolerance=0);",
            "The integers nx and ny define the resolution of the grid that the function is sampled on.",
            "Syntax:",
            "set history {size <N>} {quiet|numbers} {full|trim} {default} {numbers} {quiet} {trim}",
            "When leaving gnuplot the value of history size limits the number of lines saved to the",
            "history file; the default size is given in the settings, which are listed at the end.",
            prose,
        ]
    )
    sentences = [text[s.start : s.end] for s in split_sentences(text)]
    assert "The integers nx and ny define the resolution of the grid that the function is sampled on." in sentences
    assert "set history {size <N>} {quiet|numbers} {full|trim} {default} {numbers} {quiet} {trim}" in sentences
    # A statement wrapped mid-argument still reads as one piece, and prose wrapped after ";" stays one sentence.
    assert any(s.startswith("To construct contours") and s.endswith("real tolerance=0);") for s in sentences)
    assert any(s.startswith("When leaving gnuplot") and s.endswith("listed at the end.") for s in sentences)


def test_a_sentence_deep_in_a_description_is_cited_under_its_term() -> None:
    page = """<html><body><div role="main"><h1>git-clean(1)</h1><h2>OPTIONS</h2><dl>
    <dt>-n</dt><dt>--dry-run</dt><dd><p>Don't actually remove anything.</p><p>Just show what would be done.</p></dd>
    <dt>-x</dt><dd><p>Don't use the standard ignore rules.</p>
    <dl><dt>clean.requireForce</dt><dd><p>Defaults to true.</p></dd></dl></dd>
    </dl><p>After the list.</p></div></body></html>"""
    extracted = HTML.read(page.encode(), ReadOptions())
    text = extracted.text

    def section_of(phrase: str) -> str:
        offset = text.index(phrase)
        return next(s.title for s in extracted.sections if s.start <= offset < s.end)

    assert section_of("Just show what would be done.") == "git-clean(1) > OPTIONS > -n, --dry-run"
    assert section_of("Defaults to true.") == "git-clean(1) > OPTIONS > -x > clean.requireForce"
    assert section_of("After the list.") == "git-clean(1) > OPTIONS"


def test_an_option_asked_for_is_quoted_with_its_term_when_its_second_sentence_answers() -> None:
    # git-worktree.html: the sentence that best answers is the second of the description, and opens with a
    # pronoun; it is quoted with the first, and the first with its term, or the answer never names the option.
    text = (
        "-n\n--dry-run\nWith prune, do not remove anything; just report what it would remove.\n\n--porcelain\n"
        "With list, output in an easy-to-parse format for scripts. This format will remain stable across Git "
        "versions and regardless of user configuration.\n"
    )
    passage = dataclasses.replace(_passage_of(text), score=0.9)
    stable = next(s for s in passage.sentences if passage.sentence_text(s).startswith("This format"))
    scored = tuple(
        dataclasses.replace(s, score=0.9 if s == stable else 0.3, overlap=0.6 if s == stable else 0.0)
        for s in passage.sentences
    )
    passages = Passages([dataclasses.replace(passage, sentences=scored)])
    passages.term_weights = {"list": 1.0, "option": 1.0, "stabl": 2.0, "output": 1.0, "format": 1.0, "script": 2.0}
    answer = ExtractiveAnswerer(min_score=0.0).answer(
        "Which git worktree list option gives a stable output format meant for scripts?", passages
    )
    assert answer.text.startswith("--porcelain With list, output in an easy-to-parse format for scripts. This format")
    [citation] = answer.citations
    assert text[citation.highlights[0][0] :].startswith("--porcelain\nWith list")  # the quoted spans are exact


def test_a_chunk_never_starts_with_a_description_without_its_term() -> None:
    blocks = [
        f"--option-{n}\nOption number {n} changes how the command behaves in one small way. It is off by default."
        for n in range(40)
    ]
    text = "\n\n".join(blocks) + "\n"
    document = Document("git-example.html", text, "0" * 64, kind="html")
    _, chunks = chunk_document(document, chunk_size=400, chunk_overlap=110)
    assert len(chunks) > 10
    for chunk in chunks[1:]:
        assert not chunk.text.startswith("Option number"), chunk.text[:40]


def test_a_quote_ending_in_a_colon_brings_the_items_it_announces() -> None:
    from rag.answer.answerers.extractive import Unit

    text = (
        "SQLite is capable of storing dates and times as TEXT, REAL, or INTEGER values:\n\n"
        'TEXT as ISO8601 strings ("YYYY-MM-DD HH:MM:SS.SSS").\n\n'
        "REAL as Julian day numbers.\n\nINTEGER as Unix Time.\n\nApplications can choose any of these formats."
    )
    passage = _passage_of(text)
    announcing, _text, julian, *_rest = passage.sentences
    units = [Unit(0.9, s, passage, None, frozenset()) for s in (announcing, julian)]
    answer = ExtractiveAnswerer()._compose("In which formats can SQLite store dates?", units, [passage])
    # Quoted alone, the sentence promised a list it did not give: its items come with it, three at most, and
    # each only once (the next unit chosen is one of them).
    assert answer.text == (
        "SQLite is capable of storing dates and times as TEXT, REAL, or INTEGER values: "
        'TEXT as ISO8601 strings ("YYYY-MM-DD HH:MM:SS.SSS"). REAL as Julian day numbers. INTEGER as Unix Time. [1]'
    )
    assert answer.citations[0].highlights[-1] == (text.index("INTEGER as"), text.index("Time.") + len("Time."))


def test_a_chunk_that_starts_at_a_term_quotes_that_term_as_its_label() -> None:
    # The chunker starts a chunk at a description's term rather than under it; the term then opened the
    # passage, and was refused as a label for want of a blank line above it (the passage holds none).
    text = (
        "-m <parent-number>\n--mainline <parent-number>\nUsually you cannot cherry-pick a merge because you do "
        "not know which side of the merge should be considered the mainline. This option specifies the parent "
        "number of the mainline.\n\n-n\n--no-commit\nUsually the command creates a sequence of commits."
    )
    base = 2758
    entry = "git-cherry-pick(1) Manual Page > OPTIONS > -m <parent-number>, --mainline <parent-number>"
    sentences = tuple(s._replace(start=s.start + base, end=s.end + base) for s in split_sentences(text, wrapped=False))
    chunk = Chunk("c1", "git-cherry-pick.html", base, base + len(text), text, sentences, section=entry)
    scored = tuple(ScoredSentence(s.start, s.end, 0.5) for s in sentences)
    passage = Passage(chunk=chunk, score=0.9, rank=1, sentences=scored)
    usually = next(s for s in passage.sentences if passage.sentence_text(s).startswith("Usually you cannot"))
    assert label_of(passage, usually) == (base, base + len("-m <parent-number>\n--mainline <parent-number>"))
    # Under another section's title (a PDF page's wrapped lines), the passage's first line is no label.
    elsewhere = Passage(chunk=dataclasses.replace(chunk, section="OPTIONS"), score=0.9, rank=1, sentences=scored)
    assert label_of(elsewhere, usually) is None


def test_a_sentence_cut_from_its_start_by_a_line_is_quoted_with_that_start() -> None:
    from rag.answer.answerers.extractive import candidates
    from rag.answer.answerers.quoting import continued_from

    text = (
        "Comments, marked by '#', and blank lines are permissible. The special form\nvarname = value # FIXED\n"
        "means that the variable is treated as a 'fixed parameter', not adjusted by fit.\n\n"
        "Syntax:\nset view <rot_x>{,{<rot_z>}}\nset view map\nset view azimuth <angle>\nshow view\n"
        "where <rot x> and <rot z> control the rotation angles.\n\ngnuplot will open a display window."
    )
    passage = _passage_of(text)
    by_text = {passage.sentence_text(s): s for s in passage.sentences}
    means = next(s for t, s in by_text.items() if t.startswith("means that"))
    start = continued_from(passage, means)
    # The code line inside the sentence and the lead-in before it: the answer ("# FIXED") is in them.
    assert start is not None and text[start[0] : start[1]] == "The special form\nvarname = value # FIXED"
    question = "How do I keep a fit parameter fixed?"
    unit = next(u for u, _ in candidates(question, [passage]) if u.sentence == means)
    assert unit.context == start  # whatever the question asks, the start comes with it
    answer = ExtractiveAnswerer()._compose(question, [unit], [passage])
    assert answer.text.startswith("The special form varname = value # FIXED means that the variable")
    # Deep in a block of syntax lines there is no start to quote; a name in lower case continues nothing.
    assert continued_from(passage, next(s for t, s in by_text.items() if t.startswith("where <rot x>"))) is None
    assert continued_from(passage, by_text["gnuplot will open a display window."]) is None


def test_no_sentence_is_quoted_twice_when_contexts_overlap() -> None:
    from rag.answer.answerers.extractive import Unit

    text = (
        "--soft\nDoes not touch the index file or the working tree at all. This leaves all your changed files "
        '"Changes to be committed", as git status would put it.\n\n--mixed\nResets the index but not the working tree.'
    )
    passage = _passage_of(text)
    by_text = {passage.sentence_text(s): s for s in passage.sentences}
    first = by_text["Does not touch the index file or the working tree at all."]
    second = next(s for t, s in by_text.items() if t.startswith("This leaves"))
    label = label_of(passage, first)
    assert label is not None
    units = [
        Unit(0.9, first, passage, label, frozenset()),
        Unit(0.8, second, passage, (label[0], first.end), frozenset()),  # its antecedent, with that one's term
    ]
    answer = ExtractiveAnswerer()._compose("What does --soft leave alone?", units, [passage])
    # The second quote's context was the first quote again: it used to be quoted twice.
    assert answer.text.count("Does not touch the index file") == 1, answer.text
    assert answer.text.endswith("as git status would put it. [1]")


def test_the_answerability_model_reads_the_question_it_was_learnt_with() -> None:
    # calibrate.py learns the refusal model from answerability(ranked, passages, question); answering must
    # read the same features, or those about the question (a value asked for, a qualifier unstated) are 0.
    text = "Manage the set of repositories whose branches you track.\n\nEach remote has a name and a URL.\n"
    passages = Passages([_passage_of(text)])
    passages.term_weights = {"remot": 2.0, "repositori": 1.0}
    answerer = ExtractiveAnswerer()
    ranked = answerer.rank("What is the maximum number of remotes a repository can have?", passages)
    asks_value = answerer.confidence("What is the maximum number of remotes a repository can have?", ranked, passages)
    asks_nothing = answerer.confidence("Tell me about remotes in a repository.", ranked, passages)
    assert asks_value < asks_nothing  # no sentence states a number, let alone a maximum


def test_a_sentence_in_the_entry_the_question_names_outranks_the_same_words_in_another_entry() -> None:
    from rag.answer.answerers.extractive import candidates
    from rag.answer.answerers.features import FEATURE_NAMES

    # os.path.html: "Returns ... for broken symbolic links." is said of lexists() and of exists(); only the
    # entry the question names answers it, and a sentence deep in an entry has no label line to say which.
    text = (
        "os.path.lexists(path)\nReturn True if path refers to an existing path. Returns True for broken symbolic "
        "links.\n\nos.path.exists(path)\nReturn True if path refers to an existing path or an open file "
        "descriptor. Returns False for broken symbolic links.\n"
    )
    second = text.index("os.path.exists(path)")
    passages = _sectioned(
        text,
        "os.path > os.path.lexists(path)",
        {second: "os.path > os.path.exists(path)"},
        {"os": 1.0, "path": 1.0, "exist": 1.0, "symbol": 2.0, "link": 2.0, "broken": 2.0},
    )
    [passage] = passages
    question = "Does os.path.exists() return True for a broken symbolic link?"
    feature = FEATURE_NAMES.index("in_named_entry")
    named = {passage.sentence_text(u.sentence): f[feature] for u, f in candidates(question, passages)}
    assert named["Returns False for broken symbolic links."] == 1.0
    assert named["Returns True for broken symbolic links."] == 0.0
    best = ExtractiveAnswerer(min_score=0.0).rank(question, passages)
    top = [passage.sentence_text(u.sentence) for u in best if "broken" in passage.sentence_text(u.sentence)]
    assert top[0] == "Returns False for broken symbolic links."


def test_an_options_value_names_the_entry_it_is_described_in() -> None:
    from rag.answer.answerers.extractive import candidates
    from rag.answer.answerers.features import FEATURE_NAMES

    # git-commit.html describes each value of --cleanup=<mode> as an entry of its own, inside the option's entry.
    text = (
        "--cleanup=<mode>\nThis option determines how the supplied commit message should be cleaned up.\n\n"
        "strip\nStrip leading and trailing empty lines.\n\nverbatim\nDo not change the message at all.\n"
    )
    passages = _sectioned(
        text,
        "OPTIONS > --cleanup=<mode>",
        {
            text.index("strip"): "OPTIONS > --cleanup=<mode> > strip",
            text.index("verbatim"): "OPTIONS > --cleanup=<mode> > verbatim",
        },
        {"git": 1.0, "commit": 1.0, "cleanup": 2.0, "verbatim": 3.0, "messag": 1.0},
    )
    [passage] = passages
    feature = FEATURE_NAMES.index("in_named_entry")
    question = "What does git commit --cleanup=verbatim do to my message?"
    named = {passage.sentence_text(u.sentence): f[feature] for u, f in candidates(question, passages)}
    assert named["Do not change the message at all."] == 1.0
    assert named["Strip leading and trailing empty lines."] == 0.0


def test_a_quote_that_runs_into_another_is_quoted_before_it_as_one() -> None:
    from rag.answer.answerers.extractive import Unit, _in_reading_order

    # gnuplot.pdf: the example command ends a line mid-sentence; its sentence goes on in the next line. Chosen
    # second, it was quoted after another passage's sentence: "gnuplot will open ... [1] When ... [2] For
    # example if you issue the command gnuplot -persist -e 'plot [-5:5] sinh(x)' [1]".
    text = (
        "For example if you issue the command gnuplot -persist -e 'plot sinh(x)'\n"
        "gnuplot will open a display window and exit, leaving the window on the screen.\n\n"
        "The persist option has no effect on non-interactive terminal output.\n"
    )
    passage = _passage_of(text)
    other = _passage_of("When gnuplot exits to the shell, the return value is not informative.\n")
    example, opens, no_effect = (Unit(0.5, s, passage, None, frozenset()) for s in passage.sentences)
    elsewhere = Unit(0.5, other.sentences[0], dataclasses.replace(other, rank=2), None, frozenset())
    assert _in_reading_order([opens, elsewhere, example]) == [example, opens, elsewhere]
    answer = ExtractiveAnswerer()._compose("q", [example, opens, elsewhere], Passages([passage, elsewhere.passage]))
    assert answer.text.startswith(
        "For example if you issue the command gnuplot -persist -e 'plot sinh(x)' gnuplot will"
    )
    # Whole sentences keep their order: the best one leads.
    assert _in_reading_order([no_effect, opens]) == [no_effect, opens]
    # The half that ends the sentence chosen later joins the half chosen first, though another quote came between.
    assert _in_reading_order([example, elsewhere, opens]) == [example, opens, elsewhere]
    # Halves kept with two overlapping chunks of the document (rank keeps each sentence with its best chunk).
    overlapping = dataclasses.replace(passage, rank=3)
    opens_there = dataclasses.replace(opens, passage=overlapping)
    assert _in_reading_order([opens_there, elsewhere, example]) == [example, opens_there, elsewhere]


def test_a_yes_no_answer_quotes_the_sentence_before_that_says_not() -> None:
    from rag.answer.answerers.features import question_type

    # git-stash.html: "If git stash pop runs into conflicts, is the stash entry dropped anyway?" was answered
    # with what to do next, without the sentence before it that says the entry is not removed.
    question = "If git stash pop runs into conflicts, is the stash entry dropped anyway?"
    assert question_type(question) == "yesno"  # a yes/no question that opens with its condition
    text = (
        "Remove a single stashed state from the stash list.\n\nApplying the state can fail with conflicts; in "
        "this case, it is not removed from the stash list. You need to resolve the conflicts by hand and call "
        "git stash drop manually afterwards.\n"
    )
    weights = {"git": 1.0, "stash": 1.0, "pop": 2.0, "conflict": 2.0, "drop": 2.0}
    passages = _sectioned(text, "pop", {}, weights)
    [passage] = passages
    # The question's terms each sentence holds, as retrieval finds them.
    sentences = tuple(
        dataclasses.replace(s, terms=frozenset(tokenize(passage.sentence_text(s))) & frozenset(weights))
        for s in passage.sentences
    )
    passages[0] = passage = dataclasses.replace(passage, sentences=sentences)
    ranked = ExtractiveAnswerer(min_score=0.0).rank(question, passages)
    best = next(u for u in ranked if passage.sentence_text(u.sentence).startswith("You need"))
    ranked = [best, *(u for u in ranked if u is not best)]  # as the learnt ranker put it
    answer = ExtractiveAnswerer(min_score=0.0, max_sentences=2).answer_ranked(question, passages, ranked)
    assert answer.text.startswith(
        "Applying the state can fail with conflicts; in this case, it is not removed from the stash list. You need"
    )
    from rag.answer.answerers.quoting import verdict_before

    unrelated = "Nothing here is ever automatic. You need to resolve the conflicts by hand.\n"
    scored = _passage_of(unrelated)
    terms = [frozenset(), frozenset({"conflict"})]  # the sentence before holds no question term
    scored = dataclasses.replace(
        scored, sentences=tuple(dataclasses.replace(s, terms=t) for s, t in zip(scored.sentences, terms, strict=True))
    )
    assert verdict_before(scored, scored.sentences[1]) is None


def test_a_question_asking_for_two_things_gets_two_though_they_share_its_words() -> None:
    from rag.answer.answerers.demands import items_asked

    # pathlib.html: "Which two Path.mkdir() arguments give me the behaviour of the shell's mkdir -p?" was answered
    # with exist_ok alone: the sentence on parents holds the same question terms, so it added nothing by them.
    question = "Which two Path.mkdir() arguments give me the behaviour of the shell's mkdir -p?"
    assert items_asked(question) == 2
    assert items_asked("What kind of center will the two companies set up?") == 1  # a subject, not what is asked
    assert items_asked("Which 3.8 feature added the walrus operator?") == 1
    assert items_asked("What three-way merge does git use?") == 1
    assert items_asked("In which three formats can I store dates?") == 3
    text = (
        "If parents is true, any missing parents of this path are created as needed (mimicking the POSIX mkdir -p "
        "command).\n\nIf exist_ok is true, FileExistsError exceptions will be ignored (same behavior as the POSIX "
        "mkdir -p command).\n\nThe mode is combined with the process umask value.\n"
    )
    passages = _sectioned(text, "Path.mkdir()", {}, {"mkdir": 3.0, "p": 1.0, "path": 1.0, "two": 1.0, "shell": 2.0})
    answerer = ExtractiveAnswerer(min_score=0.0)
    answer = answerer.answer(question, passages)
    assert "parents is true" in answer.text and "exist_ok is true" in answer.text
    assert "umask" not in answer.text
    one = answerer.answer("Which Path.mkdir() argument gives me the behaviour of the shell's mkdir -p?", passages)
    assert ("parents is true" in one.text) != ("exist_ok is true" in one.text)


def test_a_which_question_gets_the_sentence_naming_the_thing_after_the_one_saying_when() -> None:
    # pathlib.html: "Which pathlib class should I use?" quoted "If you want to manipulate Windows paths on a Unix
    # machine (or vice versa)." without the sentence after it, which names the class.
    question = "I'm on Linux and need to manipulate Windows-style paths. Which pathlib class should I use?"
    text = (
        "If you want to manipulate Windows paths on a Unix machine (or vice versa). You cannot instantiate a "
        "WindowsPath when running on Unix, but you can instantiate PureWindowsPath.\n\nPaths are immutable.\n"
    )
    weights = {"manipul": 2.0, "window": 2.0, "path": 1.0, "pathlib": 2.0, "class": 1.0, "linux": 3.0}
    passages = _sectioned(text, "pathlib", {}, weights)
    [passage] = passages
    ranked = ExtractiveAnswerer(min_score=0.0).rank(question, passages)
    best = next(u for u in ranked if passage.sentence_text(u.sentence).startswith("If you want"))
    ranked = [best, *(u for u in ranked if u is not best)]  # as the learnt ranker put it
    answerer = ExtractiveAnswerer(min_score=0.0, max_sentences=2)
    answer = answerer.answer_ranked(question, passages, ranked)
    assert "you can instantiate PureWindowsPath" in answer.text
    # Not for a question that asks no code name ("Which company ...?" in the seed articles).
    other = answerer.answer_ranked("Which platform should I use for Windows paths on Unix?", passages, ranked)
    assert "PureWindowsPath" not in other.text


def test_answers_from_ranked_units_refuse_unknown_names_as_answers_do() -> None:
    # calibrate.py sweeps its settings through answer_ranked; it must refuse what answer refuses, or the
    # sweep counts as answered the questions naming something no document mentions.
    passages = Passages([_passage_of("Each remote has a name and a URL.\n")])
    passages.unknown_names = ("Mercurial",)
    answerer = ExtractiveAnswerer(min_score=0.0)
    question = "Can Mercurial remotes be added?"
    from_ranked = answerer.answer_ranked(question, passages, answerer.rank(question, passages))
    assert from_ranked.refused and from_ranked.notice == "The documents never mention “Mercurial”."
    assert answerer.answer(question, passages).notice == from_ranked.notice


def test_a_sentence_deep_in_an_entry_is_quoted_under_the_entry_term_with_the_skip_shown() -> None:
    from rag.answer.answerers.extractive import candidates
    from rag.answer.answerers.quoting import is_term

    # git-remote.html: the sentence that answers is the second of set-url's description, so no label line is
    # right above it; without the term the answer never says which subcommand changes the URL.
    text = (
        "set-url\nChanges URLs for the remote. Sets first URL for remote <name> that matches regex <oldurl> "
        "(first URL if no <oldurl> is given) to <newurl>.\nWith --push, push URLs are manipulated instead of "
        "fetch URLs.\n"
    )
    passages = _sectioned(
        text, "git-remote(1) > COMMANDS > set-url", {}, {"chang": 1.0, "url": 2.0, "remot": 1.0, "exist": 1.0}
    )
    [passage] = passages
    question = "How do I change the URL that an existing remote points to?"
    units = {passage.sentence_text(u.sentence): u for u, _ in candidates(question, passages)}
    deep = units[
        "Sets first URL for remote <name> that matches regex <oldurl> (first URL if no <oldurl> is given) to <newurl>."
    ]
    assert deep.context is None  # the ranker never reads the term: its words would count for every sentence
    answer = ExtractiveAnswerer()._compose(question, [deep], [passage])
    assert answer.text.startswith("set-url … Sets first URL for remote <name>")
    [citation] = answer.citations
    assert text[citation.highlights[0][0] : citation.highlights[0][1]] == "set-url"  # each quoted span is exact
    # A topic heading is not a term: "3.3 Figure size" or "EXIT STATUS" is never quoted above a sentence.
    assert is_term("set-url") and is_term("os.path.exists(path)") and is_term("-n, --dry-run")
    assert (
        not is_term("3.3 Figure size")
        and not is_term("EXIT STATUS")
        and not is_term("shutil — High-level file operations")
        and not is_term("copytree example")
    )
    assert is_term("pop [--index] [<stash>]") and is_term("class csv.DictWriter(f)")


def test_a_topic_heading_is_never_quoted_as_an_answer_but_a_term_is() -> None:
    from rag.answer.answerers.extractive import candidates

    # wal.html: "How do I switch a database to write-ahead logging?" was answered "Write-Ahead Logging [1]".
    text = (
        "Write-Ahead Logging\n\nThe default method by which SQLite implements atomic commit is a rollback journal.\n\n"
    )
    text += "journal_mode\nThe journal_mode pragma gets or sets the journal mode.\n"
    term_at = text.index("journal_mode\n")
    passages = _sectioned(
        text,
        "Write-Ahead Logging",
        {term_at: "Write-Ahead Logging > journal_mode"},
        {"write": 1.0, "ahead": 2.0, "log": 2.0, "journal": 1.0},
    )
    [passage] = passages
    quotable = {
        passage.sentence_text(u.sentence) for u, _ in candidates("How do I turn on write-ahead logging?", passages)
    }
    assert "Write-Ahead Logging" not in quotable
    assert "The default method by which SQLite implements atomic commit is a rollback journal." in quotable
    assert any(t.startswith("journal_mode") for t in quotable)  # a term heads its entry and may be the answer


def test_a_numbered_heading_is_never_quoted_nor_its_number() -> None:
    from rag.answer.answerers.extractive import candidates

    # cli.html: "11. Recover Data From a Corrupted Database" is split into "11." and its title, and the title
    # was quoted as the second part of an answer: the section's title carries the number, the sentence not.
    text = "11. Recover Data From a Corrupted Database\n\nThe .recover command attempts to recover the database.\n"
    passages = _sectioned(
        text, "11. Recover Data From a Corrupted Database", {}, {"recov": 2.0, "corrupt": 2.0, "databas": 1.0}
    )
    [passage] = passages
    quotable = {
        passage.sentence_text(u.sentence)
        for u, _ in candidates("How do I recover data from a corrupted database?", passages)
    }
    assert quotable == {"The .recover command attempts to recover the database."}
    from rag.answer.answerers.quoting import is_heading

    assert is_heading("11.", "11. Recover Data From a Corrupted Database")
    assert not is_heading("125", "Limits > 3. Maximum Number Of Attached Databases")  # a value on a line of its own
    assert not is_heading("0.75", None)


def test_the_page_title_shown_in_the_body_before_any_heading_is_the_top_section() -> None:
    # sqlite.org pages show their title in a <div class="fancy_title">, not a heading: without it the title
    # line belonged to no section, so the heading rule could not see it and "Write-Ahead Logging" was an answer.
    page = (
        "<html><head><title>Write-Ahead Logging</title></head><body><div class=fancy_title>Write-Ahead Logging"
        "</div><h1>1. Overview</h1><p>The default method is a rollback journal.</p></body></html>"
    )
    extracted = HTML.read(page.encode(), ReadOptions())
    titles = [s.title for s in extracted.sections]
    assert titles == ["Write-Ahead Logging", "Write-Ahead Logging > 1. Overview"]
    assert extracted.sections[0].start == extracted.text.index("Write-Ahead Logging")
    # A <title> the body does not show as a line of its own is no section ("git-commit(1)" above "git-commit(1)
    # Manual Page").
    other = page.replace("<div class=fancy_title>Write-Ahead Logging</div>", "<p>Write-Ahead Logging is fast.</p>")
    assert [s.title for s in HTML.read(other.encode(), ReadOptions()).sections] == ["1. Overview"]


def test_a_line_that_closes_a_bracket_it_never_opened_is_never_quoted() -> None:
    from rag.answer.answerers.quoting import is_fragment

    # asymptote.pdf: a page's line break cut "(for example, 2D graphs) where only an approximate size ..." from
    # its start; pathlib.html: the last output line of an example. Both were quoted as answers.
    assert is_fragment("2D graphs) where only an approximate size estimate for pic is available, the routine is used.")
    assert is_fragment("PosixPath('build/lib/pathlib.py')]")
    assert not is_fragment("Use f(x) and g[y] (see below) to combine them.")
    assert not is_fragment("a) Install the package first.")  # an enumerator closes what it never opened


def test_a_conditional_is_quoted_with_the_other_case_the_manual_states_beside_it() -> None:
    from rag.answer.answerers.extractive import Unit, _with_neighbour
    from rag.answer.answerers.quoting import alternative

    # csv.html: "If it is set to 'raise' ..." alone hides the value that makes DictWriter drop extra keys.
    text = (
        "The optional extrasaction parameter indicates what action to take. If it is set to 'raise', the default "
        "value, a ValueError is raised. If it is set to 'ignore', extra values in the dictionary are ignored.\n\n"
        "If a row has fewer fields, the missing values are filled in.\n"
    )
    passage = _passage_of(text)
    first, raise_case, ignore_case, _next_paragraph = passage.sentences
    assert alternative(passage, raise_case) == ignore_case
    assert alternative(passage, ignore_case) is None  # the next sentence is another paragraph
    assert alternative(passage, first) is None  # not a condition
    units = [Unit(0.9, raise_case, passage, None, frozenset())]
    chosen = _with_neighbour(units, [*units, Unit(0.5, ignore_case, passage, None, frozenset())], alternative)
    answer = ExtractiveAnswerer()._compose("What does DictWriter do with extra keys?", chosen, [passage])
    assert answer.text == (
        "If it is set to 'raise', the default value, a ValueError is raised. If it is set to 'ignore', extra "
        "values in the dictionary are ignored. [1]"
    )


def test_a_sentence_about_this_thing_the_sentence_before_names_is_quoted_with_it() -> None:
    from rag.answer.answerers.quoting import antecedent

    # git-bisect.html: "If the script exits with this code, ..." says which code only with the sentence before.
    text = (
        "The special exit code 125 should be used when the current source code cannot be tested. If the script "
        "exits with this code, the current revision will be skipped. Partnerships matter. Both say this deal is new.\n"
    )
    passage = _passage_of(text)
    names_code, this_code, _partnerships, this_deal = passage.sentences
    assert antecedent(passage, this_code) == names_code
    # "this deal": the sentence before names no deal, so it is not what "this" stands for.
    assert antecedent(passage, this_deal) is None
