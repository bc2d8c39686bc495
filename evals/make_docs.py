"""Write the documents of the second eval set (``evals/docs/``): a PDF, a Word file, a web page, text.

Every file is written by a real library (fpdf2, python-docx) or by hand (HTML, text), deterministically (fixed
creation dates): running this again gives the same bytes, except the .docx, whose zip entries carry the time
they were written (its text is the same). The facts in them are made up, so the answers
can only come from these files. ``evals/docs_qa.jsonl`` asks about them; its ``pages`` are the physical pages
of ``lantern-manual.pdf`` (1-based) where each answer is printed.

The test suite builds the same files into temporary folders (``write_all``), plus the bad files a folder
should never index silently (``write_bad_pdfs``).

Run: ``python evals/make_docs.py [FOLDER]`` (default ``evals/docs``).
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

__all__ = [
    "write_all",
    "write_bad_pdfs",
    "write_docx",
    "write_html",
    "write_pdf",
    "write_rst",
    "write_scanned_pdf",
    "write_text",
]

FIXED_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

# The manual's pages: (printed label style, bookmark path, heading, paragraphs). Paragraphs are wrapped by
# fpdf2 at the page width, so they reach the reader as hard-wrapped lines.
PREFACE = (
    "This manual describes Lantern Relay 3.2, a message relay for small offices. Lantern Relay was written "
    "by the Tidewater Systems team in Halifax and is maintained by four engineers."
)
# The line break after "manip-" is placed by hand: the word is hyphenated at the end of a printed line.
HYPHENATED = "Careful manip-\nulation of the queue files by hand voids the support contract."
INSTALL = [
    "Lantern Relay needs 512 MB of memory and 2 GB of free disk space. It runs on Debian 12 or later and on "
    "Ubuntu 24.04, and it installs from the lantern-relay package.",
    "The installer creates a system user named lantern, which owns the queue and the log files.",
]
PORTS = [
    "The relay listens on port 7431 by default. The admin console listens on port 7432 and accepts "
    "connections from the local machine only, unless the console_bind setting says otherwise.",
]
QUEUE = [
    "Queue files are kept in the spool folder for 14 days before they are deleted. A message that could not "
    "be delivered is retried every 20 minutes until it expires.",
]
TROUBLE_LEFT = (
    "If the relay stops accepting messages, check the free disk space first: the relay refuses new "
    "messages when less than 200 MB are left, and it logs a warning every minute while the disk stays "
    "that full. Freeing space resumes delivery within a minute."
)
TROUBLE_RIGHT = (
    "Error code E42 means that the TLS certificate of the relay has expired. Renew the certificate, then "
    "run lantern-ctl reload to load it without dropping the messages that wait in the queue."
)
LICENCE = [
    "Lantern Relay is released under the Mozilla Public License 2.0. Commercial support is sold by "
    "Tidewater Systems in yearly plans.",
]


def write_pdf(path: Path) -> Path:
    """The manual: 5 pages, roman label on the preface, bookmarks, a hyphenated line end, two columns."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title("Lantern Relay Operator's Manual")
    pdf.set_font("helvetica", size=11)

    def heading(title: str, level: int = 0) -> None:
        pdf.start_section(title, level=level)
        pdf.set_font("helvetica", style="B", size=13 if level == 0 else 12)
        pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)

    def paragraph(text: str) -> None:
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    pdf.add_page()  # physical page 1, printed "i"
    pdf.set_page_label(label_style="r")
    heading("Preface")
    paragraph(PREFACE)
    pdf.multi_cell(120, 6, HYPHENATED, new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()  # physical page 2, printed "1"
    pdf.set_page_label(label_style="D", label_start=1)
    heading("1 Installation")
    heading("1.1 Requirements", level=1)
    for text in INSTALL:
        paragraph(text)

    pdf.add_page()  # physical page 3, printed "2"
    heading("2 Configuration")
    heading("2.1 Ports", level=1)
    for text in PORTS:
        paragraph(text)
    heading("2.2 Queue files", level=1)
    for text in QUEUE:
        paragraph(text)

    pdf.add_page()  # physical page 4, printed "3": two columns
    heading("3 Troubleshooting")
    with pdf.text_columns(ncols=2, gutter=10) as columns:
        columns.write(TROUBLE_LEFT)
        columns.new_column()
        columns.write(TROUBLE_RIGHT)

    pdf.add_page()  # physical page 5, printed "4"
    heading("4 Licence")
    for text in LICENCE:
        paragraph(text)
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    """A field guide: a title, headings at two levels, a specifications table."""
    import docx

    document = docx.Document()
    properties = document.core_properties
    properties.created = properties.modified = FIXED_DATE.replace(tzinfo=None)
    properties.author = "Beacon Devices"
    document.add_heading("Beacon Field Guide", level=0)
    document.add_heading("Charging", level=1)
    document.add_paragraph("A full charge of the Beacon handset takes 95 minutes with the supplied USB-C charger.")
    document.add_paragraph("The charging light turns green when the battery is full.")
    document.add_heading("Specifications", level=1)
    table = document.add_table(rows=3, cols=3)
    for row, cells in zip(
        table.rows,
        [("Model", "Battery", "Weight"), ("B-100", "2400 mAh", "180 g"), ("B-200", "3600 mAh", "210 g")],
        strict=True,
    ):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_heading("Water resistance", level=2)
    document.add_paragraph("The B-200 is rated IP67 and survives 30 minutes at a depth of one metre.")
    document.add_paragraph("The B-100 is splash-proof only and must be kept out of rain.")
    document.save(str(path))
    return path


HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Harbor Sync 5.0 release notes</title>
<style>body { font-family: sans-serif } .banner { position: fixed }</style>
<script>window.dataLayer = []; function track() { return "analytics"; }</script></head>
<body>
<header><nav><a href="/">Home</a> <a href="/pricing">Pricing</a> <a href="/blog">Blog</a>
<a href="/login">Sign in</a></nav></header>
<div class="banner" id="cookie-consent">We use cookies to improve your experience.
<button>Accept all cookies</button></div>
<main><article>
<h1>Harbor Sync 5.0 release notes</h1>
<p>Harbor Sync 5.0 was released on 3 March 2026. It is a free update for every customer with a current plan.</p>
<h2>New features</h2>
<p>Harbor Sync 5.0 adds end-to-end encryption for shared folders. The keys never leave the devices of the
people who share a folder.</p>
<p>Large files now sync in parallel, which makes uploads of video files about three times faster.</p>
<h2>Removed features</h2>
<p>Support for Windows 7 was removed in this release. Customers on Windows 7 can keep using Harbor Sync 4.8.</p>
</article></main>
<aside><h3>Related posts</h3><ul><li><a href="/a">Ten tips for remote teams</a></li>
<li><a href="/b">Our new office</a></li></ul></aside>
<footer><p>Copyright 2026 Harbor Software Ltd. All rights reserved.</p>
<p>Subscribe to our newsletter for product news.</p></footer>
</body></html>
"""


def write_html(path: Path) -> Path:
    """A saved web page: navigation, a cookie banner, scripts and a footer around one article."""
    path.write_text(HTML, encoding="utf-8")
    return path


TEXT = """Lantern mailing list
====================

The lantern-users mailing list is where operators of Lantern Relay ask
questions and share configuration tips. To subscribe to the list, send
an email with just "subscribe lantern-users" in the body to
majordomo@lists.tidewater.example. The list archive is published every
Sunday night.

Posting rules
-------------

Messages must be plain text and shorter than 64 KB. Attachments are
stripped by the list server before messages are delivered to the
subscribers.
"""


def write_text(path: Path) -> Path:
    """A hard-wrapped README (72 columns) with reStructuredText-style headings."""
    path.write_text(TEXT, encoding="utf-8")
    return path


RST = """Backups
=======

Nightly backups
---------------

Run lantern-backup every night at 02:30, when traffic is lowest. Each backup
keeps the queue, the configuration and the certificates, and backups older
than 30 days are removed.

Restoring
---------

Stop the relay before restoring a backup with lantern-restore, then start it
again.
"""


def write_rst(path: Path) -> Path:
    """A reStructuredText page with two levels of headings, hard-wrapped."""
    path.write_text(RST, encoding="utf-8")
    return path


def write_all(folder: Path) -> list[Path]:
    """Every document of the eval set, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_pdf(folder / "lantern-manual.pdf"),
        write_docx(folder / "beacon-field-guide.docx"),
        write_html(folder / "harbor-sync-release-notes.html"),
        write_text(folder / "MAILING-LIST"),
        write_rst(folder / "backups.rst"),
    ]


def write_scanned_pdf(path: Path, text: str = "The vault opens at noon.") -> Path:
    """An image-only PDF (a "scan"): the text is drawn on a picture, with no text layer."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1400, 300), color=255)
    ImageDraw.Draw(image).text((40, 100), text, fill=0, font=ImageFont.load_default(size=64))
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.add_page()
    pdf.image(image, x=10, y=20, w=190)
    pdf.output(str(path))
    return path


def write_bad_pdfs(folder: Path) -> dict[str, str]:
    """PDFs that cannot be indexed as they are, written into ``folder``: file name -> the reason expected."""
    from fpdf import FPDF

    folder.mkdir(parents=True, exist_ok=True)
    locked = FPDF()
    locked.set_creation_date(FIXED_DATE)
    locked.add_page()
    locked.set_font("helvetica", size=12)
    locked.cell(0, 10, "The launch code is 0000.")
    locked.set_encryption(owner_password="owner", user_password="reader")
    locked.output(str(folder / "locked.pdf"))
    whole = write_pdf(folder / "whole.pdf").read_bytes()
    (folder / "whole.pdf").unlink()
    (folder / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    return {"locked.pdf": "encrypted PDF", "truncated.pdf": "corrupt or truncated PDF"}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "docs"
    for written in write_all(target):
        print(written)
