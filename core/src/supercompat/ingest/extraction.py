"""A file's text, for the file types OpenAI's file_search reads.

Text and code files are built in: their bytes are decoded as OpenAI accepts them (UTF-8, UTF-16 with
its byte order mark, ASCII). HTML is stripped of its tags, scripts and styles with the standard
library's ``html.parser``. PDF, DOCX and PPTX need the ``documents`` extra
(``pip install 'supercompat[documents]'``: pypdf, python-docx, python-pptx, all BSD/MIT; not PyMuPDF,
which is AGPL), imported when such a file comes. Legacy Word ``.doc``, on OpenAI's list, is read by
none of them and is refused as unsupported. Nothing here touches the network.

Files come from anyone who may upload one, so every reader has limits (pages, unpacked size, time), and
:func:`extract_file`, what ingestion calls, reads in a worker process with memory and CPU limits
(:mod:`supercompat.ingest.sandbox`): a file that would exhaust either fails, the server goes on.
"""

from __future__ import annotations

import codecs
import html
import io
import os
import time
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from typing import IO, Any

from .. import errors


class IngestError(Exception):
    """A file that can't be read, with the code OpenAI puts in a vector store file's ``last_error``:
    ``unsupported_file`` (a type we don't read, or its reader isn't installed), ``invalid_file``
    (bytes that aren't what the type says: undecodable text, a damaged PDF; or past a limit), or
    ``server_error`` (no worker process could read it, see sandbox.py)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def last_error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def unsupported(cls, message: str) -> IngestError:
        return cls("unsupported_file", message)

    @classmethod
    def invalid(cls, message: str) -> IngestError:
        return cls("invalid_file", message)

    @classmethod
    def too_slow(cls, seconds: float) -> IngestError:
        return cls.invalid(f"The file took more than {seconds:g} s to read.")

    @classmethod
    def too_big(cls, memory_bytes: int) -> IngestError:
        return cls.invalid(f"The file took more than {memory_bytes // 2**20} MiB of memory to read.")


DOCUMENTS_EXTRA = "pip install 'supercompat[documents]'"

# OpenAI's file_search types (extension, MIME types), by how their text is read.
TEXT_TYPES = {
    ".c": ("text/x-c",), ".cpp": ("text/x-c++",), ".cs": ("text/x-csharp",), ".css": ("text/css",),
    ".go": ("text/x-golang",), ".java": ("text/x-java",), ".js": ("text/javascript",),
    ".json": ("application/json",), ".md": ("text/markdown",), ".php": ("text/x-php",),
    ".py": ("text/x-python", "text/x-script.python"), ".rb": ("text/x-ruby",), ".sh": ("application/x-sh",),
    ".tex": ("text/x-tex",), ".ts": ("application/typescript",), ".txt": ("text/plain",),
}
HTML_TYPES = {".html": ("text/html",)}
DOCUMENT_TYPES = {
    ".pdf": ("application/pdf",),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    ".pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation",),
}
LEGACY_TYPES = {".doc": ("application/msword",)}
SUPPORTED_EXTENSIONS = tuple(sorted({*TEXT_TYPES, *HTML_TYPES, *DOCUMENT_TYPES}))

# Limits for one file (the worker process adds memory and CPU limits, see sandbox.py). Each is read
# when a file is read, so a change applies to the next file.
#: Wall-clock seconds one file may take to read; past them it fails (invalid_file) and its worker is
#: stopped. Real PDFs read at about 40 ms a page (1,500 pages a minute).
TIMEOUT_S = 60.0
#: Address space of the worker reading one file (its interpreter and readers take about 80 MiB of it;
#: a DOCX with 32 MiB of XML, the most read, about 300 MiB).
MEMORY_BYTES = 1024 * 2**20
#: Pages of a PDF read at most: a small file can hold a million pages that share one content stream.
MAX_PDF_PAGES = 5000


def _kind(filename: str | None, content_type: str | None) -> str | None:
    """The extension that says how to read the file: the filename's, else the content type's."""
    ext = os.path.splitext(filename or "")[1].lower()
    tables = (TEXT_TYPES, HTML_TYPES, DOCUMENT_TYPES, LEGACY_TYPES)
    if any(ext in table for table in tables):
        return ext
    mime = (content_type or "").split(";")[0].strip().lower()
    for table in tables:
        for known, mimes in table.items():
            if mime in mimes:
                return known
    return None


def decode(data: bytes) -> str:
    """Text bytes as OpenAI takes them: UTF-8 (a BOM allowed), UTF-16 with its BOM, ASCII."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not data.startswith(codecs.BOM_UTF32_LE):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise IngestError.invalid("The file's text is not encoded as UTF-8, UTF-16 or ASCII.") from None
    if "\x00" in text:
        raise IngestError.invalid("The file holds binary data, not text.")
    return text


# Elements whose content is no text of the page, and those that end a line.
_HIDDEN = frozenset({"script", "style", "template", "noscript", "svg"})
_BLOCKS = frozenset({"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset",
                     "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
                     "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "title",
                     "tr", "ul"})


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """The text a browser would show of ``markup``: no tags, scripts or styles; one line per block."""
    parser = _HTMLText()
    parser.feed(markup)
    # What feed() leaves unparsed is a construct still open at the end (a tag, comment or quoted value
    # never closed, or an unclosed script), or text held back for a character reference. close() would
    # go over such a construct again from each "<" in it: quadratic (80 KB of "<a" took 5 s on Python
    # 3.11, 1 MB about 13 minutes). Browsers drop an unclosed construct at the end of a page; held-back
    # text is kept.
    rest, parser.rawdata = parser.rawdata, ""
    if rest and not rest.startswith("<"):
        parser.handle_data(html.unescape(rest.split("<", 1)[0]))
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


Check = Callable[[], None]  # raises IngestError.too_slow once the time for the file has passed


def _pdf(source: IO[bytes], check: Check) -> str:
    import pypdf

    reader = pypdf.PdfReader(source)
    if reader.is_encrypted and not reader.decrypt(""):
        raise IngestError.invalid("The PDF is encrypted with a password.")
    pages = reader.pages
    if len(pages) > MAX_PDF_PAGES:
        raise IngestError.invalid(f"The PDF has {len(pages)} pages, more than the {MAX_PDF_PAGES} read.")
    texts = []
    for page in pages:
        check()
        texts.append(page.extract_text() or "")
    return "\n\n".join(texts)


# DOCX and PPTX are zip files their readers unpack whole into memory, and parse each XML part into an
# lxml tree of several times its size. One that would unpack past these (a "zip bomb": a few hundred
# kilobytes that inflate to gigabytes) is refused before it is read. Real documents are far below
# them: XML deflates 4 to 40 times, and most of a big document is its images, stored as they are.
MAX_UNPACKED_BYTES = 128 * 2**20
MAX_UNPACKED_XML_BYTES = 32 * 2**20


def _check_unpacked_size(source: IO[bytes], name: str) -> None:
    try:
        with zipfile.ZipFile(source) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise IngestError.invalid(f"The {name} file could not be read: it is not a valid zip archive.") from exc
    finally:
        source.seek(0)
    # zipfile never reads more than an entry's declared size
    unpacked = sum(info.file_size for info in entries)
    xml = sum(info.file_size for info in entries if info.filename.lower().endswith((".xml", ".rels")))
    if unpacked > MAX_UNPACKED_BYTES or xml > MAX_UNPACKED_XML_BYTES:
        raise IngestError.invalid(f"The {name} file would unpack to {unpacked} bytes ({xml} of XML), more than "
                                  f"the {MAX_UNPACKED_BYTES} ({MAX_UNPACKED_XML_BYTES} of XML) allowed.")


def _docx(source: IO[bytes], check: Check) -> str:
    import docx

    _check_unpacked_size(source, "DOCX")
    document = docx.Document(source)
    check()
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        check()
        for row in table.rows:
            parts.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def _shape_texts(shapes: Any) -> list[str]:
    texts = []
    for shape in shapes:
        if getattr(shape, "has_text_frame", False):
            texts.append(shape.text_frame.text)
        if getattr(shape, "has_table", False):
            texts.extend("\t".join(cell.text for cell in row.cells) for row in shape.table.rows)
        if hasattr(shape, "shapes"):  # a group
            texts.extend(_shape_texts(shape.shapes))
    return texts


def _pptx(source: IO[bytes], check: Check) -> str:
    import pptx

    _check_unpacked_size(source, "PPTX")
    slides = []
    for slide in pptx.Presentation(source).slides:
        check()
        texts = _shape_texts(slide.shapes)
        if slide.has_notes_slide:
            texts.append(slide.notes_slide.notes_text_frame.text if slide.notes_slide.notes_text_frame else "")
        slides.append("\n".join(t for t in texts if t))
    return "\n\n".join(slides)


def _text(source: IO[bytes], check: Check) -> str:
    return decode(source.read())


def _html(source: IO[bytes], check: Check) -> str:
    return html_text(decode(source.read()))


# extension -> (the type's name, the module its reader needs, the reader)
_READERS: dict[str, tuple[str, str | None, Callable[[IO[bytes], Check], str]]] = {
    ".pdf": ("PDF", "pypdf", _pdf), ".docx": ("DOCX", "docx", _docx), ".pptx": ("PPTX", "pptx", _pptx),
    ".html": ("HTML", None, _html)}


def extract(filename: str | None, data: bytes, content_type: str | None = None) -> str:
    """The text of a file named ``filename`` (its extension chooses the reader; ``content_type`` is
    used when the name has no known one), whose bytes are ``data``.

    Raises :class:`IngestError`: ``unsupported_file`` for a type not on OpenAI's list, ``.doc``, or a
    document type whose reader (the ``documents`` extra) isn't installed; ``invalid_file`` for bytes
    that don't decode, a damaged document, one past the readers' limits, or a PDF with no text.

    It reads in this process, with no memory limit: for files from anyone (a server's), use
    :func:`extract_file`, which reads in a worker process with limits.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"extract() takes the file's bytes, not {type(data).__name__}; "
                        "extract_file() reads a file at a path.")
    return extract_from(filename, io.BytesIO(data), content_type, TIMEOUT_S)


def extract_from(filename: str | None, source: IO[bytes], content_type: str | None, timeout: float) -> str:
    """:func:`extract` of the binary file ``source`` (seekable), in at most ``timeout`` seconds (the
    readers check between pages and slides). MemoryError goes through, for the caller to report."""
    kind = _kind(filename, content_type)
    if kind is None:
        shown = os.path.splitext(filename or "")[1] or content_type or "this type"
        raise IngestError.unsupported(f"Files of type {shown!r} are not supported for retrieval. Supported "
                                      f"types: {', '.join(SUPPORTED_EXTENSIONS)}.")
    if kind in LEGACY_TYPES:
        raise IngestError.unsupported("Legacy Word (.doc) files are not supported; save the file as .docx.")
    name, module, reader = _READERS.get(kind, ("text", None, _text))
    if module is not None:
        try:
            __import__(module)
        except ImportError:
            raise IngestError.unsupported(f"Reading {name} files needs the documents extra: "
                                          f"{DOCUMENTS_EXTRA}") from None
    deadline = time.monotonic() + timeout

    def check() -> None:
        if time.monotonic() > deadline:
            raise IngestError.too_slow(timeout)

    try:
        text = reader(source, check)
    except (IngestError, MemoryError):
        raise
    except Exception as exc:  # a damaged document can fail anywhere in its reader
        raise IngestError.invalid(f"The {name} file could not be read: "
                                  f"{errors.redacted(str(exc)) or type(exc).__name__}") from exc
    if not text.strip():
        # Completed with no chunks, it would never be found, and nobody would know why.
        raise IngestError.invalid(NO_TEXT + (NO_TEXT_PDF if kind == ".pdf" else ""))
    return text


NO_TEXT = "The file has no text to index."
NO_TEXT_PDF = " Its pages may be images (a scanned document): text in images is not recognised."


async def extract_file(filename: str | None, path: str | os.PathLike[str], content_type: str | None = None) -> str:
    """:func:`extract` of the file at ``path``, in a worker process with memory and CPU limits (see
    :mod:`supercompat.ingest.sandbox`), off the event loop: what ingestion calls. Raises
    :class:`IngestError` as ``extract`` does, also when the file takes more than :data:`TIMEOUT_S`
    seconds or :data:`MEMORY_BYTES` of memory to read; OSError if ``path`` can't be opened."""
    from . import sandbox

    return await sandbox.extract_file(filename, path, content_type)
