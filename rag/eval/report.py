"""Writing an evaluation run as a report, and comparing two runs.

``write_report`` produces ``report.md`` and a self-contained ``report.html`` (charts embedded as PNG data
URIs, nothing fetched): the metrics table, a bar chart of the 0-to-1 metrics, a latency histogram, and
every failed item with the answer given. ``compare_runs`` reads two record files written by
``rag eval --out`` and lists metric deltas and the items whose outcome changed.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.eval.metrics import EvalResult, compute_metrics, format_metric, metrics_figure

__all__ = ["compare_runs", "read_records", "write_report"]


def _charts(result: EvalResult) -> tuple[str, str]:
    """Base64 PNGs of the metric bar chart and the latency histogram."""
    from matplotlib.figure import Figure  # Figure objects need no pyplot, display or GUI toolkit

    def png(figure: Any) -> str:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        return base64.b64encode(buffer.getvalue()).decode()

    metrics_png = png(metrics_figure(result))
    figure = Figure(figsize=(8, 3))
    axis = figure.subplots()
    axis.hist([r["timings_ms"]["total"] for r in result.records], bins=20, color="#0891b2")
    axis.set_xlabel("total time per question (ms)")
    axis.set_ylabel("questions")
    axis.set_title("Latency")
    return metrics_png, png(figure)


def _metrics_markdown(metrics: dict[str, float]) -> list[str]:
    return ["| metric | value |", "|---|---|", *(f"| {k} | {format_metric(v)} |" for k, v in metrics.items())]


def write_report(result: EvalResult, folder: Path | str, title: str = "rag evaluation") -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    failures = result.failures()
    lines = [f"# {title}", "", f"{len(result.records)} questions, {len(failures)} failed.", ""]
    lines += _metrics_markdown(result.metrics)
    lines += ["", "## Failed items", ""]
    for r in failures:
        expected = "a refusal" if not r["answerable"] else "an answer"
        lines.append(f"- **{r['id']}** {r['question']} (expected {expected}): {r['answer']}")
    markdown = folder / "report.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")

    metrics_png, latency_png = _charts(result)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{format_metric(v)}</td></tr>" for k, v in result.metrics.items())
    failed = "".join(
        f"<tr><td>{html.escape(r['id'])}</td><td>{html.escape(r['question'])}</td>"
        f"<td>{'answerable' if r['answerable'] else 'unanswerable'}</td><td>{html.escape(r['answer'])}</td></tr>"
        for r in failures
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#111}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left}}
img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{len(result.records)} questions, {len(failures)} failed.</p>
<table><tr><th>metric</th><th>value</th></tr>{rows}</table>
<img alt="bar chart of the metrics" src="data:image/png;base64,{metrics_png}">
<img alt="histogram of latencies" src="data:image/png;base64,{latency_png}">
<h2>Failed items</h2>
<table><tr><th>id</th><th>question</th><th>kind</th><th>answer given</th></tr>{failed}</table>
</body></html>
"""
    page_path = folder / "report.html"
    page_path.write_text(page, encoding="utf-8")
    return markdown, page_path


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """Read a record file written by ``rag eval --out``.

    Raises:
        ConfigError: The file is missing or a line is not a record.
    """
    path = Path(path)
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record["id"], record["correct"], record["timings_ms"]["total"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ConfigError(f"{path}:{number}: not a record written by 'rag eval --out'") from None
        records.append(record)
    return records


def compare_runs(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], names: tuple[str, str] = ("A", "B")) -> str:
    """Metrics of two runs side by side with deltas, then the items whose outcome changed."""
    ma, mb = compute_metrics(a), compute_metrics(b)
    width = max(len(k) for k in ma)
    lines = [f"{'metric':<{width}}  {names[0]:>9}  {names[1]:>9}  {'delta':>9}"]
    for key in ma:
        delta = mb[key] - ma[key]
        shown = "n/a" if delta != delta else f"{delta:+.3f}"  # NaN: one side had nothing to measure
        lines.append(f"{key:<{width}}  {format_metric(ma[key]):>9}  {format_metric(mb[key]):>9}  {shown:>9}")
    before = {r["id"]: r for r in a}
    changed = [(before[r["id"]], r) for r in b if r["id"] in before and before[r["id"]]["correct"] != r["correct"]]
    lines += ["", f"{len(changed)} item(s) changed outcome:"]
    for old, new in changed:
        verdict = "fixed" if new["correct"] else "broken"
        lines.append(f"  {new['id']} {verdict}: {new['question']}")
        lines.append(f"    {names[0]}: {old['answer']}")
        lines.append(f"    {names[1]}: {new['answer']}")
    return "\n".join(lines)
