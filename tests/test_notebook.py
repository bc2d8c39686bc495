"""The quickstart notebook runs end to end in a real Jupyter kernel, and is committed without outputs."""

from __future__ import annotations

from typing import Any

import nbformat
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def _outputs(cell: Any, mime: str) -> str:
    return "\n".join(str(o.get("data", {}).get(mime, "")) + str(o.get("text", "")) for o in cell.get("outputs", []))


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "strip outputs before committing"


def test_the_quickstart_notebook_executes_and_shows_rich_answers() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    answer_html = _outputs(cells[1], "text/html")
    assert "Nadella" in answer_html and "<mark>" in answer_html and "000_9e8dd42f31235db3.txt" in answer_html
    assert "couldn" in _outputs(cells[4], "text/html")
    frame = _outputs(cells[5], "text/html")
    assert "<table" in frame and "001_a4f8977f78a39ff4.txt" in frame and "<th>score</th>" in frame
    assert "September" in _outputs(cells[6], "text/html")
    assert "000_9e8dd42f31235db3.txt" in _outputs(cells[7], "text/plain")
    assert "answer_correct" in _outputs(cells[8], "text/html")
    assert any("image/png" in o.get("data", {}) for o in cells[9].outputs), "the metrics plot renders"
    assert "Ada Berg" in _outputs(cells[11], "text/html")
    assert "ramen" in _outputs(cells[12], "text/plain")
