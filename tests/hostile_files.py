"""Hostile documents, built on demand: small files that cost a naive reader minutes or gigabytes.

Every builder streams what it writes, so building a file that unpacks to hundreds of megabytes takes a few
megabytes of memory.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path


def empty_paragraphs_docx(path: Path, paragraphs: int, *, padding_mb: int = 0) -> Path:
    """A real Word file (python-docx) with one line of text, then ``paragraphs`` empty paragraphs.

    ``padding_mb`` adds that much whitespace inside the body: a zip bomb that is still valid XML.
    """
    import docx

    base = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("The harbour office opens at seven.")
    document.save(base)
    source = zipfile.ZipFile(base)
    head, tail = source.read("word/document.xml").decode().split("</w:p>", 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                out.writestr(info, source.read(info))
        with out.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(f"{head}</w:p>".encode())
            block = b"<w:p/>" * 10_000
            for _ in range(paragraphs // 10_000):
                member.write(block)
            member.write(b"<w:p/>" * (paragraphs % 10_000))
            spaces = b" " * 2**20
            for _ in range(padding_mb):
                member.write(spaces)
            member.write(tail.encode())
    return path


def flate_bomb_pdf(path: Path, operators: int) -> Path:
    """One page whose FlateDecode content stream inflates to ``operators`` text-showing operators."""
    packer = zlib.compressobj(9)
    parts = [packer.compress(b"BT /F1 1 Tf 10 10 Td\n")]
    block = b"(a) Tj " * 100_000
    parts += [packer.compress(block) for _ in range(operators // 100_000)]
    parts += [packer.compress(b"\nET\n"), packer.flush()]
    stream = b"".join(parts)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def text_pdf(path: Path, pages: list[str], size: tuple[float, float] = (595.0, 842.0)) -> Path:
    """A PDF (fpdf2) with one paragraph per page, on pages of ``size`` points."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=size)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.set_xy(36, 36)
        pdf.multi_cell(400, 16, text)
    pdf.output(str(path))
    return path


def long_html(path: Path, paragraphs: int) -> Path:
    """A web page of ``paragraphs`` short paragraphs, inside every default limit and slow to take in.

    200,000 (8.2 MB) took trafilatura 100 s to read; the selectolax reader reads them in about 4 s, and
    embedding their 7 MB of text takes minutes.
    """
    path.write_text(
        "<html><body><article>" + "<p>The harbour office opens at seven.</p>" * paragraphs + "</article></body></html>",
        encoding="utf-8",
    )
    return path
