"""Ingestion for vector stores: each supported file type's text, refusals with OpenAI's codes, chunks
exact in cl100k_base tokens, and chunking_strategy checked as OpenAI does. Each extraction test runs
in process (``extract``) and in a worker process (``extract_file``, what ingestion calls); the worker's
limits are tested in test_extraction_sandbox.py."""

from __future__ import annotations

import asyncio
import io
import socket
import sys

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supercompat import ingest
from supercompat.api import params
from supercompat.errors import InvalidRequest
from supercompat.ingest import IngestError, chunk, chunking, extract, extract_file, extraction, tokenize
from supercompat.ingest.extraction import TEXT_TYPES
from supercompat.testing.contract import call

MARKER = "The quick marmot audits seventeen ledgers at dawn."


def pdf_bytes(text: str, *, owner_password: str | None = None) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica, written with pypdf itself; with
    ``owner_password``, AES-encrypted with an empty user password (permissions only, as many are)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
        {NameObject("/F1"): writer._add_object(font)})})
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(content)
    if owner_password is not None:
        writer.encrypt(user_password="", owner_password=owner_password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("A heading", level=1)
    document.add_paragraph(text)
    document.add_table(rows=1, cols=2).rows[0].cells[1].text = "in a table cell"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def empty_docx_bytes() -> bytes:
    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    return out.getvalue()


def pptx_bytes(text: str) -> bytes:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])  # blank
    slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1)).text_frame.text = text
    slide.notes_slide.notes_text_frame.text = "speaker notes here"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


# -- extraction ----------------------------------------------------------------------------------------

@pytest.fixture(params=["in_process", "in_worker"])
def read(request, tmp_path):
    """``read(filename, data, content_type=None)``: the text, through ``extract`` or ``extract_file``."""
    if request.param == "in_process":
        return extract

    def in_worker(filename, data, content_type=None):
        path = tmp_path / "upload"
        path.write_bytes(data)
        return asyncio.run(extract_file(filename, path, content_type))

    return in_worker


@pytest.mark.parametrize("ext", sorted(TEXT_TYPES))
def test_each_text_and_code_type_gives_its_text(read, ext):
    source = f"// {MARKER}\nline two ✓\n"
    assert read(f"file{ext}", source.encode()) == source


@pytest.mark.parametrize("name, make", [("report.pdf", pdf_bytes), ("report.docx", docx_bytes),
                                        ("deck.pptx", pptx_bytes)])
def test_each_document_type_gives_its_text(read, name, make):
    text = read(name, make(MARKER))
    assert MARKER in text
    if name.endswith(".docx"):
        assert "in a table cell" in text
    if name.endswith(".pptx"):
        assert "speaker notes here" in text


def test_extract_takes_bytes_only_and_extract_file_a_path(tmp_path):
    """A str given to extract() is never taken for a path (a caller's text would open a server file)."""
    path = tmp_path / "report.docx"
    path.write_bytes(docx_bytes(MARKER))
    assert MARKER in asyncio.run(extract_file("report.docx", path))
    assert MARKER in asyncio.run(extract_file("report.docx", str(path)))
    for wrong in (path, str(path), io.BytesIO(b"x"), bytearray(b"x")):
        with pytest.raises(TypeError, match="extract_file"):
            extract("report.docx", wrong)
    with pytest.raises(FileNotFoundError):
        asyncio.run(extract_file("gone.txt", tmp_path / "gone.txt"))


def test_the_content_type_is_used_when_the_name_has_no_known_extension(read):
    assert read("README", b"# " + MARKER.encode(), "text/markdown; charset=utf-8") == "# " + MARKER
    assert MARKER in read(None, pdf_bytes(MARKER), "application/pdf")
    assert read("notes.TXT", MARKER.encode()) == MARKER  # extensions in any case


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_decoded(read, encoding):
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    data = bom + f"{MARKER} – ünïcode".encode(encoding)
    assert read("notes.txt", data) == f"{MARKER} – ünïcode"


def test_html_loses_its_tags_scripts_and_styles(read):
    html = (b"<!doctype html><html><head><title>Title here</title><style>p { color: red }</style>"
            b"<script>var secret = 'not text';</script></head><body><h1>Head&amp;line</h1>"
            b"<p>" + MARKER.encode() + b" <b>bold</b>&nbsp;words</p><script>alert(1)</script>"
            b"<ul><li>one</li><li>two</li></ul></body></html>")
    text = read("page.html", html)
    assert text.splitlines() == ["Title here", "Head&line", f"{MARKER} bold words",
                                 "one", "two"]
    assert "<" not in text and "secret" not in text and "color" not in text and "alert" not in text


@pytest.mark.parametrize("name, content_type", [
    ("photo.png", None), ("archive.zip", "application/zip"), ("noextension", None), (None, None),
    ("data.csv", "text/csv"), ("old.doc", None), (None, "application/msword")])
def test_types_off_openais_list_are_unsupported(read, name, content_type):
    with pytest.raises(IngestError) as info:
        read(name, b"whatever", content_type)
    assert info.value.code == "unsupported_file"
    assert info.value.last_error == {"code": "unsupported_file", "message": info.value.message}


@pytest.mark.parametrize("name, module", [("a.pdf", "pypdf"), ("a.docx", "docx"), ("a.pptx", "pptx")])
def test_a_document_type_without_the_extra_is_unsupported_and_says_how_to_install_it(monkeypatch, name, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it weren't installed
    with pytest.raises(IngestError) as info:
        extract(name, b"%PDF-1.4")
    assert info.value.code == "unsupported_file"
    assert "pip install 'supercompat[documents]'" in info.value.message


@pytest.mark.parametrize("name, data", [
    ("latin1.txt", "café".encode("latin-1")),
    ("nobom16.txt", "plain text".encode("utf-16-le")),  # UTF-16 needs its byte order mark
    ("binary.py", b"\x00\x01\x02\x03"),
    ("page.html", b"<p>\xff\xfe\xfd</p>"),
    ("broken.pdf", b"%PDF-1.4\n this is not a PDF at all"),
    ("truncated.pdf", b""),
    ("broken.docx", b"PK\x03\x04 not a zip"),
    ("broken.pptx", b"not a presentation"),
])
def test_bytes_that_are_not_what_the_type_says_are_invalid(read, name, data):
    with pytest.raises(IngestError) as info:
        read(name, data)
    assert info.value.code == "invalid_file"


@pytest.mark.parametrize("name, make", [("big.docx", docx_bytes), ("big.pptx", pptx_bytes)])
def test_a_document_that_would_unpack_past_the_limit_is_invalid(read, monkeypatch, name, make):
    data = make(MARKER)
    assert MARKER in read(name, data)
    monkeypatch.setattr(extraction, "MAX_UNPACKED_BYTES", 10_000)  # a real bomb: test_extraction_sandbox
    with pytest.raises(IngestError) as info:
        read(name, data)
    assert info.value.code == "invalid_file" and "unpack" in info.value.message


def test_a_pdf_encrypted_with_an_empty_password_is_read(read):
    """Permission-only encryption (AES, empty user password) is common; OpenAI reads such PDFs."""
    assert MARKER in read("locked.pdf", pdf_bytes(MARKER, owner_password="owner"))


def test_a_truncated_pdf_is_invalid(read):
    with pytest.raises(IngestError) as info:
        read("cut.pdf", pdf_bytes(MARKER)[:200])
    assert info.value.code == "invalid_file"


@pytest.mark.parametrize("name, data", [
    ("empty.txt", b""), ("blank.md", b" \n\t\n"), ("bare.html", b"<html><script>x()</script></html>"),
    ("scan.pdf", pdf_bytes("")), ("empty.docx", empty_docx_bytes()),
])
def test_a_file_with_no_text_fails_rather_than_completing_unsearchable(read, name, data):
    """A scanned PDF (pages that are images) has no text layer; completed with no chunks, a file would
    never be found and nobody would know why. So it fails (invalid_file), saying so."""
    with pytest.raises(IngestError) as info:
        read(name, data)
    assert info.value.code == "invalid_file" and "no text" in info.value.message
    assert ("scanned" in info.value.message) == name.endswith(".pdf")


# -- tokens and chunks ---------------------------------------------------------------------------------

def test_tokens_are_cl100k_base_and_need_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the tokenizer tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(chunking, "_encoding", None)  # built again, from the file in the package
    assert tokenize("hello world") == [15339, 1917]  # cl100k_base's ids (o200k_base's differ)
    assert tokenize("<|endoftext|>") != [100257]  # a special token's spelling in a file is text
    assert ingest.count_tokens("The marmot") == len(tokenize("The marmot"))


def words(n: int) -> str:
    """A text of exactly ``n`` cl100k_base tokens (" w" is one token per word)."""
    text = "w" + " w" * (n - 1)
    assert len(tokenize(text)) == n
    return text


@pytest.mark.parametrize("size, overlap", [(100, 0), (100, 50), (800, 400), (333, 10)])
def test_chunks_are_windows_of_max_tokens_starting_max_minus_overlap_apart(size, overlap):
    text = words(2500)
    tokens = tokenize(text)
    enc = chunking.encoding()
    chunks = chunk(text, size, overlap)
    step = size - overlap
    starts = list(range(0, len(tokens), step))
    starts = starts[:next(i for i, s in enumerate(starts) if s + size >= len(tokens)) + 1]
    assert [c.tokens for c in chunks] == [min(size, len(tokens) - s) for s in starts]
    assert [c.text for c in chunks] == [enc.decode(tokens[s:s + size]) for s in starts]


def test_auto_is_800_tokens_with_400_of_overlap():
    chunks = chunk(words(2000))
    assert [c.tokens for c in chunks] == [800, 800, 800, 800]  # starting at 0, 400, 800, 1200
    assert [c.tokens for c in chunk(words(2001))] == [800, 800, 800, 800, 401]  # the last from 1600 on


def test_a_short_text_is_one_chunk_and_an_empty_one_none():
    assert chunk(MARKER) == [ingest.Chunk(MARKER, len(tokenize(MARKER)))]
    assert chunk("") == []


def test_characters_split_between_tokens_stay_whole():
    text = "漢字とemoji 🎉🧪👩‍🔬 mixed with ascii. " * 200
    chunks = chunk(text, 100, 0)
    assert len(chunks) > 10
    assert "".join(c.text for c in chunks) == text  # no character lost, split or doubled
    assert sum(c.tokens for c in chunks) == len(tokenize(text))
    for c in chunk(text, 100, 50):
        assert "\ufffd" not in c.text


@settings(max_examples=200, deadline=None)
@given(text=st.text(), size=st.integers(1, 12), overlap=st.integers(0, 11))
def test_any_text_cut_without_overlap_joins_back_and_with_overlap_gives_whole_characters(text, size, overlap):
    tokens = len(tokenize(text))
    cut = chunk(text, size, 0)
    assert "".join(c.text for c in cut) == text
    assert sum(c.tokens for c in cut) == tokens
    overlap = min(overlap, size - 1)
    for c in chunk(text, size, overlap):
        assert c.text in text and 0 < c.tokens <= size


@pytest.mark.parametrize("size, overlap", [(0, 0), (100, -1), (100, 100)])
def test_chunk_sizes_without_sense_are_refused(size, overlap):
    with pytest.raises(ValueError):
        chunk("text", size, overlap)


# -- chunking_strategy in requests -------------------------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    ({"type": "auto"}, (800, 400)),
    ({"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}, (100, 0)),
    ({"type": "static", "static": {"max_chunk_size_tokens": 4096, "chunk_overlap_tokens": 2048}}, (4096, 2048)),
    ({"type": "static", "static": {"max_chunk_size_tokens": 101, "chunk_overlap_tokens": 50}}, (101, 50)),
])
def test_a_chunking_strategy_is_given_back_as_the_file_object_shows_it(body, expected):
    size, overlap = expected
    assert params.chunking_strategy(body) == {
        "type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def static(size, overlap):
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


P = "chunking_strategy.static."
BAD_STRATEGIES = [
    (static(99, 0), P + "max_chunk_size_tokens", "integer_below_min_value"),
    (static(4097, 0), P + "max_chunk_size_tokens", "integer_above_max_value"),
    (static(800, 401), P + "chunk_overlap_tokens", "integer_above_max_value"),
    (static(101, 51), P + "chunk_overlap_tokens", "integer_above_max_value"),
    (static(800, -1), P + "chunk_overlap_tokens", "integer_below_min_value"),
    (static("800", 0), P + "max_chunk_size_tokens", "invalid_type"),
    (static(800.0, 0), P + "max_chunk_size_tokens", "invalid_type"),
    (static(800, True), P + "chunk_overlap_tokens", "invalid_type"),
    ({"type": "static", "static": {"max_chunk_size_tokens": 800}}, P + "chunk_overlap_tokens",
     "missing_required_parameter"),
    ({"type": "static", "static": {"chunk_overlap_tokens": 0}}, P + "max_chunk_size_tokens",
     "missing_required_parameter"),
    ({"type": "static", "static": {**static(800, 0)["static"], "unit": "tokens"}}, P + "unit",
     "unknown_parameter"),
    ({"type": "static"}, "chunking_strategy.static", "missing_required_parameter"),
    ({"type": "static", "static": None}, "chunking_strategy.static", "invalid_type"),
    ({"type": "auto", "static": static(800, 0)["static"]}, "chunking_strategy.static", "unknown_parameter"),
    ({"type": "other"}, "chunking_strategy.type", "invalid_value"),
    ({}, "chunking_strategy.type", "missing_required_parameter"),
    ("auto", "chunking_strategy", "invalid_type"),
]


@pytest.mark.parametrize("body, param, code", BAD_STRATEGIES)
def test_a_bad_chunking_strategy_names_its_param(body, param, code):
    with pytest.raises(InvalidRequest) as info:
        params.chunking_strategy(body)
    assert (info.value.param, info.value.code, info.value.status) == (param, code, 400)
    assert f"'{param}'" in info.value.message or param in info.value.message


@pytest.mark.parametrize("body, param, code", BAD_STRATEGIES[:3])
async def test_the_same_check_answers_through_the_sdk(client, body, param, code):
    """An assistant's tool_resources can make a vector store with a chunking_strategy: the same rules,
    the param named from the top of the body."""
    stores = [{"file_ids": [], "chunking_strategy": body}]
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.assistants.create(
            model="m", tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_stores": stores}}))
    assert info.value.param == f"tool_resources.file_search.vector_stores[0].{param}"
    assert info.value.code == code
