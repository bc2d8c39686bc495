"""Extraction benchmark: PDF pages/s of rag's reader against Debian's pdftotext, and chunks/s end to end.

PDFs: the two real PDFs Debian ships (``dpkg -L shared-mime-info libtasn1-doc``) when present, plus the
eval set's manual and a 60-page manual written with fpdf2 (``evals/make_docs.py``). Every extractor reads
the same files in the same run, each file ``--passes`` times, and the best pass counts (the least disturbed
by other work on the machine):

- ``rag (pypdfium2)``: ``rag.ingest.readers.pdf.PdfReader.read`` on the file's bytes: text, page labels, bookmarks;
- ``pdftotext``: ``pdftotext -enc UTF-8 FILE -`` from poppler-utils, one process per file (how it is used);
- ``pypdf``: ``PdfReader(...).pages[i].extract_text()``, when installed (for the README's library choice).

Target (issue 13): rag's reader at least 0.8x pdftotext's pages/s.

End to end: a mixed folder (the eval set's PDF, Word, HTML and text files, the Debian PDFs and HTML pages)
indexed from nothing (``rag.load``, model already loaded by a warm-up build): chunks/s, and the share of the
time spent reading files.

Run: ``python benchmarks/bench_extract.py`` (needs ``apt-get install poppler-utils`` for the baseline).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "evals"))
DEBIAN_PDFS = [
    Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"),
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
]
DEBIAN_HTML = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.html")


def long_manual(path: Path, pages: int = 60) -> Path:
    """A text-heavy PDF of ``pages`` pages written with fpdf2, with a bookmark per page."""
    import make_docs
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(make_docs.FIXED_DATE)
    pdf.set_font("helvetica", size=10)
    body = " ".join([make_docs.PREFACE, *make_docs.INSTALL, *make_docs.PORTS, *make_docs.QUEUE, *make_docs.LICENCE])
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.start_section(f"Chapter {number}")
        pdf.multi_cell(0, 5, f"Chapter {number}\n" + body * 4, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def pdf_files(folder: Path) -> list[Path]:
    import make_docs

    files = [p for p in DEBIAN_PDFS if p.is_file()]
    files.append(make_docs.write_pdf(folder / "lantern-manual.pdf"))
    files.append(long_manual(folder / "long-manual.pdf"))
    return files


def page_count(path: Path) -> int:
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        return len(document)
    finally:
        document.close()


def best_time(run: object, path: Path, passes: int) -> float:
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        run(path)  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def rag_reader(path: Path) -> None:
    from rag.ingest.readers.base import ReadOptions
    from rag.ingest.readers.pdf import READER

    READER.read(path.read_bytes(), ReadOptions(ocr="off"))


def pdftotext(path: Path) -> None:
    subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True)


def pypdf_reader(path: Path) -> None:
    import pypdf

    for page in pypdf.PdfReader(str(path)).pages:
        page.extract_text()


def bench_pdfs(folder: Path, passes: int) -> None:
    files = pdf_files(folder)
    pages = {path: page_count(path) for path in files}
    extractors = {"rag (pypdfium2)": rag_reader}
    if shutil.which("pdftotext"):
        extractors["pdftotext"] = pdftotext
    else:
        print("pdftotext is missing (apt-get install poppler-utils): no baseline", file=sys.stderr)
    try:
        import pypdf  # noqa: F401

        extractors["pypdf"] = pypdf_reader
    except ImportError:
        pass
    print(f"PDF extraction, best of {passes} passes per file (pages/s; higher is better)\n")
    header = f"{'file':<34} {'pages':>5} " + " ".join(f"{name:>16}" for name in extractors)
    print(header)
    totals = dict.fromkeys(extractors, 0.0)
    for path in files:
        cells = []
        for name, run in extractors.items():
            seconds = best_time(run, path, passes)
            totals[name] += seconds
            cells.append(f"{pages[path] / seconds:16.1f}")
        print(f"{path.name:<34} {pages[path]:>5} " + " ".join(cells))
    all_pages = sum(pages.values())
    print(f"{'all files':<34} {all_pages:>5} " + " ".join(f"{all_pages / totals[n]:16.1f}" for n in extractors))
    if "pdftotext" in totals:
        ratio = totals["pdftotext"] / totals["rag (pypdfium2)"]
        print(f"\nrag reader / pdftotext, pages/s over all files: {ratio:.2f}x (target >= 0.8x)")


def bench_end_to_end(folder: Path) -> None:
    import make_docs

    import rag
    from rag.ingest.documents import list_document_files, load_document

    docs = folder / "mixed"
    make_docs.write_all(docs)
    for path in DEBIAN_PDFS:
        if path.is_file():
            shutil.copy(path, docs / path.name)
    if DEBIAN_HTML.is_dir():
        shutil.copytree(DEBIAN_HTML, docs / "shared-mime-info-spec.html")
    rag.load(make_docs.write_all(folder / "warm")[0].parent, folder / "warm-index", progress=False)  # loads the model
    started = time.perf_counter()
    for file in list_document_files(docs):
        load_document(file.path, file.source)
    reading = time.perf_counter() - started
    started = time.perf_counter()
    bot = rag.load(docs, folder / "mixed-index", progress=False)
    seconds = time.perf_counter() - started
    chunks = len(bot.store)
    kinds: dict[str, int] = {}
    for entry in bot.store.manifest.files.values():
        kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
    print(f"\nEnd to end, mixed folder ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))} files):")
    print(f"  indexed {chunks} chunks in {seconds:.1f} s: {chunks / seconds:.1f} chunks/s")
    print(f"  reading and extracting the files alone: {reading:.2f} s ({reading / seconds:.0%} of the build)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        bench_pdfs(Path(tmp), args.passes)
        if not args.skip_end_to_end:
            bench_end_to_end(Path(tmp))


if __name__ == "__main__":
    main()
