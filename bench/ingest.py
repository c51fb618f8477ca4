"""What reading files in worker processes costs (``extract_file``, ingest/sandbox.py) beside reading them
in a thread of the server, as it did before: small and large files of each kind, median milliseconds.

    python bench/ingest.py [--rounds 5] [--write docs/performance.md]

"thread" is ``extract_from`` in ``asyncio.to_thread`` (readers imported beforehand); "worker, warm" is
``extract_file`` with an idle worker that has read one such file before; "worker, cold" starts a worker
(and imports the reader in it) for the file. Needs the documents extra.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(__file__))
from supercompat.ingest import extract_file, extraction, sandbox  # noqa: E402

from report import write_section  # noqa: E402

LINE = "The quick marmot audits seventeen ledgers at dawn, and the fox files its report on time. "


def text_file(size: int) -> bytes:
    return (LINE * (size // len(LINE) + 1)).encode()[:size]


def html_file(size: int) -> bytes:
    paragraph = f"<p>{LINE}<b>bold</b> <a href='#x'>a link</a></p>\n".encode()
    return b"<html><body>" + paragraph * (size // len(paragraph)) + b"</body></html>"


def pdf_file(pages: int) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    for number in range(pages):
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/F1"): font})})
        lines = " ".join(f"0 -14 Td (Page {number}, line {n}: {LINE}) Tj" for n in range(45))
        content = DecodedStreamObject()
        content.set_data(f"BT /F1 10 Tf 40 760 Td {lines} ET".encode())
        page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_file(paragraphs: int) -> bytes:
    import docx

    document = docx.Document()
    for number in range(paragraphs):
        document.add_paragraph(f"{number}: {LINE}")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


FILES: list[tuple[str, str, Callable[[], bytes]]] = [
    ("text, 1 KB", "notes.txt", lambda: text_file(1000)),
    ("text, 20 MB", "notes.txt", lambda: text_file(20_000_000)),
    ("HTML, 2 MB", "page.html", lambda: html_file(2_000_000)),
    ("PDF, 1 page", "report.pdf", lambda: pdf_file(1)),
    ("PDF, 200 pages", "report.pdf", lambda: pdf_file(200)),
    ("DOCX, 10 paragraphs", "report.docx", lambda: docx_file(10)),
    ("DOCX, 5000 paragraphs", "report.docx", lambda: docx_file(5000)),
]


async def in_thread(name: str, path: str) -> str:
    def read() -> str:
        with open(path, "rb") as source:
            return extraction.extract_from(name, source, None, extraction.TIMEOUT_S)

    return await asyncio.to_thread(read)


async def timed(read: Callable[[], object]) -> float:
    started = time.perf_counter()
    await read()  # type: ignore[misc]
    return (time.perf_counter() - started) * 1000


async def measure(name: str, path: str, rounds: int) -> dict[str, float]:
    await in_thread(name, path)  # the reader imported in this process
    thread = [await timed(lambda: in_thread(name, path)) for _ in range(rounds)]
    cold = []
    for _ in range(rounds):
        sandbox.close_workers()
        cold.append(await timed(lambda: extract_file(name, path)))
    warm = [await timed(lambda: extract_file(name, path)) for _ in range(rounds)]
    return {"thread": statistics.median(thread), "warm": statistics.median(warm), "cold": statistics.median(cold)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", metavar="PAGE", help="write the results into this page (performance.md)")
    args = parser.parse_args()
    rows = []
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="supercompat-bench-") as tmp:
        for label, name, make in FILES:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(make())
            result = asyncio.run(measure(name, path, args.rounds))
            size = os.path.getsize(path)
            rows.append(f"| {label} ({size / 1e6:.2f} MB) | {result['thread']:.1f} | {result['warm']:.1f} | "
                        f"{result['warm'] - result['thread']:+.1f} | {result['cold']:.0f} |")
            print(rows[-1], flush=True)
    sandbox.close_workers()
    load.append(os.getloadavg()[0])
    text = (f"`python bench/ingest.py --rounds {args.rounds}`: median milliseconds to read one file, in a "
            f"thread (as before) and in a worker process with limits (`extract_file`). Python "
            f"{platform.python_version()}, {os.cpu_count()} cores, 1-minute load average "
            f"{min(load):.1f}–{max(load):.1f}.\n\n"
            "| file | thread, ms | worker (warm), ms | worker − thread, ms | worker (cold: started for it), ms |\n"
            "|---|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n")
    if args.write:
        write_section(args.write, "ingest", text)
    else:
        print(text)


if __name__ == "__main__":
    main()
