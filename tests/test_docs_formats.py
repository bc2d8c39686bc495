"""The formats the docs name are the formats read: README and ``rag index --help`` against the readers' registry."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rag.ingest.readers import supported_suffixes

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = re.compile(r"(?<![\w/])(\.[a-z]{2,8})\b")


def test_rag_index_help_names_every_format_read() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    ).stdout
    assert set(SUFFIX.findall(shown)) == set(supported_suffixes()), shown
    assert "no extension" in shown


def test_the_readme_names_every_format_read_where_it_lists_them() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # The upload sentence of the web chat, and the docs_dir setting's row.
    upload = re.search(r"Upload PDF .*? files \(up to", readme, re.DOTALL)
    setting = re.search(r"^\| `docs_dir` .*$", readme, re.MULTILINE)
    assert upload and setting
    for where in (upload.group(0), setting.group(0)):
        named = {m for m in re.findall(r"`(\.[a-z]+)`", where)} | set(re.findall(r"/(\.[a-z]+)`", where))
        assert named == set(supported_suffixes()), where
    assert ".txt/.md documents" not in readme and "`.txt`/`.md` files" not in readme
