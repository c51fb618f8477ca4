"""A file's text, for the file types OpenAI's file_search reads.

Text and code files are built in: their bytes are decoded as OpenAI accepts them (UTF-8, UTF-16 with
its byte order mark, ASCII). HTML is stripped of its tags, scripts and styles with the standard
library's ``html.parser``. PDF, DOCX and PPTX need the ``documents`` extra
(``pip install 'supercompat[documents]'``: pypdf, python-docx, python-pptx, all BSD/MIT; not PyMuPDF,
which is AGPL), imported when such a file comes. Legacy Word ``.doc``, on OpenAI's list, is read by
none of them and is refused as unsupported. Nothing here touches the network.
"""

from __future__ import annotations

import codecs
import io
import os
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from typing import IO, Any

from .. import errors


class IngestError(Exception):
    """A file that can't be read, with the code OpenAI puts in a vector store file's ``last_error``:
    ``unsupported_file`` (a type we don't read, or its reader isn't installed) or ``invalid_file``
    (bytes that aren't what the type says: undecodable text, a damaged PDF)."""

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

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]


def _read(data: Source) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            return f.read()
    raw = data.read()
    if not isinstance(raw, (bytes, bytearray)):
        raise TypeError("extract() reads bytes: open the file in binary mode ('rb').")
    return bytes(raw)


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


def html_text(html: str) -> str:
    """The text a browser would show of ``html``: no tags, scripts or styles; one line per block."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _pdf(data: bytes) -> str:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise IngestError.invalid("The PDF is encrypted with a password.")
    return "\n\n".join(page.extract_text() or "" for page in reader.pages)


# DOCX and PPTX are zip files their readers unpack whole into memory: one that would unpack past this
# (a "zip bomb": a few hundred kilobytes that inflate to gigabytes) is refused before it is read.
MAX_UNPACKED_BYTES = 256 * 2**20


def _check_unpacked_size(data: bytes, name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise IngestError.invalid(f"The {name} file could not be read: it is not a valid zip archive.") from exc
    if unpacked > MAX_UNPACKED_BYTES:  # zipfile never reads more than an entry's declared size
        raise IngestError.invalid(f"The {name} file would unpack to {unpacked} bytes, more than the "
                                  f"{MAX_UNPACKED_BYTES} allowed.")


def _docx(data: bytes) -> str:
    import docx

    _check_unpacked_size(data, "DOCX")

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
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


def _pptx(data: bytes) -> str:
    import pptx

    _check_unpacked_size(data, "PPTX")

    slides = []
    for slide in pptx.Presentation(io.BytesIO(data)).slides:
        texts = _shape_texts(slide.shapes)
        if slide.has_notes_slide:
            texts.append(slide.notes_slide.notes_text_frame.text if slide.notes_slide.notes_text_frame else "")
        slides.append("\n".join(t for t in texts if t))
    return "\n\n".join(slides)


_READERS: dict[str, tuple[str, str, Callable[[bytes], str]]] = {
    ".pdf": ("PDF", "pypdf", _pdf), ".docx": ("DOCX", "docx", _docx), ".pptx": ("PPTX", "pptx", _pptx)}


def extract(filename: str | None, data: Source, content_type: str | None = None) -> str:
    """The text of a file named ``filename`` (its extension chooses the reader; ``content_type`` is
    used when the name has no known one). ``data`` is the bytes, a path or a binary file object.

    Raises :class:`IngestError`: ``unsupported_file`` for a type not on OpenAI's list, ``.doc``, or a
    document type whose reader (the ``documents`` extra) isn't installed; ``invalid_file`` for bytes
    that don't decode or a damaged document.

    It is CPU work (a long PDF takes seconds): call it off the event loop, in a worker thread.
    """
    kind = _kind(filename, content_type)
    if kind is None:
        shown = os.path.splitext(filename or "")[1] or content_type or "this type"
        raise IngestError.unsupported(f"Files of type {shown!r} are not supported for retrieval. Supported "
                                      f"types: {', '.join(SUPPORTED_EXTENSIONS)}.")
    if kind in LEGACY_TYPES:
        raise IngestError.unsupported("Legacy Word (.doc) files are not supported; save the file as .docx.")
    if kind in _READERS:
        name, module, read = _READERS[kind]
        try:
            __import__(module)
        except ImportError:
            raise IngestError.unsupported(f"Reading {name} files needs the documents extra: "
                                          f"{DOCUMENTS_EXTRA}") from None
        raw = _read(data)
        try:
            return read(raw)
        except IngestError:
            raise
        except Exception as exc:  # a damaged document can fail anywhere in its reader
            raise IngestError.invalid(f"The {name} file could not be read: "
                                      f"{errors.redacted(str(exc)) or type(exc).__name__}") from exc
    text = decode(_read(data))
    return html_text(text) if kind in HTML_TYPES else text


async def extract_file(filename: str | None, path: str | os.PathLike[str], content_type: str | None = None) -> str:
    """:func:`extract` of the file at ``path``, off the event loop: what ingestion calls. Raises
    :class:`IngestError` as ``extract`` does."""
    from .._threads import call_in_thread  # a real thread under gevent too (asyncio.to_thread's isn't)

    return await call_in_thread(extract, filename, path, content_type)
