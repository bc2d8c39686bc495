"""The check that every answer of a real-documentation run is clean (evals/real/check_answers.py) works."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "evals" / "real"))
import check_answers


def test_the_issues_broken_answers_are_caught() -> None:
    assert check_answers.problems("Recursively copy an entire directory tree rooted at *src* to a directory [1]")
    assert check_answers.problems("ignored (same behavior as the POSIX mkdir -p command), but only if the [1]")
    assert check_answers.problems("If exist\\_ok is false (the default), FileExistsError is raised. [1]")
    assert check_answers.problems("p.parents\\[0\\] is the parent. [1]")
    assert check_answers.problems("\\>>> p = PureWindowsPath('c:/foo') [2]")
    assert check_answers.problems("Methods¶ Path.mkdir creates a directory. [1]")


def test_whole_sentences_code_lines_and_terms_pass() -> None:
    assert not check_answers.problems(
        "shutil.copytree(src, dst, symlinks=False) Recursively copy an entire directory tree rooted at src "
        "to a directory named dst and return the destination directory. [1]"
    )
    assert not check_answers.problems("git bisect reset [1] To leave the bisect state, run it. [2]")
    assert not check_answers.problems("If exist_ok is false (the default), FileExistsError is raised. [1] [2]")
    assert not check_answers.problems("unitsize(1cm); [1]")
    assert check_answers.quotes("A. [1] B [2] [3]") == ["A.", "B"]


def test_a_backslash_a_printed_manual_holds_is_its_own_text_not_an_escape() -> None:
    answer = (
        "Each line must be a complete statement (unless continued by a final backslash character \\); it is fine. [1]"
    )
    manual = (
        "x\nEach line must be a complete statement (unless continued by a final backslash character \\); it is\nfine."
    )
    assert check_answers.problems(answer)  # read alone, "\)" looks like a Markdown escape
    assert not check_answers.problems(answer, [manual])
    assert check_answers.problems("If exist\\_ok is false. [1]", [manual])  # an escape the passage lacks
