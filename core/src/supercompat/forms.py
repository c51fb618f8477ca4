"""``multipart/form-data`` request bodies, read as they arrive: fields are held (they are small and
bounded), files are spooled (in memory up to ``SPOOL_IN_MEMORY_BYTES``, then to a temporary file), so
a body is never held whole. Used by the in-process transport and the server alike; the parsing is
python-multipart's (the parser Starlette uses).

A route says it takes a form with ``router.add(method, pattern, handler, body=Multipart(...))``; its
handler reads ``request.form()``.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import weakref
from collections.abc import AsyncIterable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import APIError, InvalidRequest

MIB = 1024 * 1024
# OpenAI's own limits, for the routes that take them: a file (``files.create``) and an upload part
# (``uploads.parts.create``). OpenAI writes "MB"; these are MiB, so that whatever it takes, we take.
MAX_FILE_BYTES = 512 * MIB
MAX_UPLOAD_PART_BYTES = 64 * MIB
# A file part is kept in memory up to this, then moved to a temporary file.
SPOOL_IN_MEMORY_BYTES = 1 * MIB
# What a part's headers may take (its Content-Disposition with the file name, its Content-Type).
_MAX_PART_HEADER_BYTES = 16 * 1024
# Room for the boundaries and part headers around the file and the fields, in a whole-body limit.
_FRAMING_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Multipart:
    """What a route that takes ``multipart/form-data`` accepts: each file part at most
    ``max_file_bytes``; fields (parts without a file name) at most ``max_field_bytes`` each and
    ``max_fields_bytes`` together; at most ``max_parts`` parts. The whole body may be at most
    ``max_file_bytes * max_files`` plus the fields and their framing; a declared Content-Length
    beyond that is refused before anything is read."""

    max_file_bytes: int = MAX_FILE_BYTES
    max_files: int = 1
    max_field_bytes: int = 64 * 1024
    max_fields_bytes: int = 1 * MIB
    max_parts: int = 100

    @property
    def max_body_bytes(self) -> int:
        return self.max_file_bytes * self.max_files + self.max_fields_bytes + _FRAMING_BYTES


def too_large(what: str, limit: int) -> APIError:
    """The 413 for a body (or a part of one) over ``limit`` bytes, in OpenAI's envelope."""
    return APIError(f"{what} is larger than this endpoint accepts ({limit} bytes).", status=413,
                    code="request_too_large")


def _malformed(detail: str) -> InvalidRequest:
    return InvalidRequest(f"The multipart/form-data body of your request could not be parsed: {detail}.",
                          code="invalid_multipart")


def _discard(buffer: IO[bytes], path: str | None) -> None:
    try:
        buffer.close()
    except OSError:  # its last bytes could not be written (the disk is full): they are not wanted
        pass
    if path is not None:
        try:
            os.unlink(path)
        except FileNotFoundError:  # removed already
            pass


class UploadedFile:
    """One file part of a form: its field ``name``, ``filename``, ``content_type`` and ``size``, the
    bytes spooled to memory or a temporary file. Removed when the request ends (``close()``), or
    when collected."""

    def __init__(self, name: str, filename: str, content_type: str) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.size = 0
        self._buffer: IO[bytes] = io.BytesIO()
        self._path: str | None = None
        self._finalizer = weakref.finalize(self, _discard, self._buffer, None)

    def _write(self, data: bytes) -> None:
        if self._path is None and self.size + len(data) > SPOOL_IN_MEMORY_BYTES:
            self._roll_over()
        self._buffer.write(data)
        self.size += len(data)

    def _roll_over(self) -> None:
        fd, path = tempfile.mkstemp(prefix="supercompat-upload-")
        on_disk = os.fdopen(fd, "w+b")  # closing on_disk closes fd
        try:
            on_disk.write(self._buffer.getvalue())  # type: ignore[attr-defined]
        except BaseException:  # the disk is full, say: leave neither the file nor its handle behind
            _discard(on_disk, path)
            raise
        self._own(on_disk, path)

    def _own(self, buffer: IO[bytes], path: str | None) -> None:
        """Hold the bytes in ``buffer`` (and ``path``, the file removed with them)."""
        self._finalizer.detach()
        self._buffer, self._path = buffer, path
        self._finalizer = weakref.finalize(self, _discard, buffer, path)

    @property
    def path(self) -> str | None:
        """The temporary file holding the bytes; None while they are in memory, or once ``move_to``
        has renamed it away."""
        return self._path

    def file(self) -> IO[bytes]:
        """The bytes as a binary file object, at its start (valid until the request ends)."""
        self._buffer.flush()
        self._buffer.seek(0)
        return self._buffer

    def read(self) -> bytes:
        """All the bytes at once: for small files; stream large ones with ``chunks()`` or ``move_to()``."""
        return self.file().read()

    def chunks(self, size: int = MIB) -> Iterator[bytes]:
        """The bytes, ``size`` at a time."""
        source = self.file()
        while chunk := source.read(size):
            yield chunk

    def move_to(self, destination: str | os.PathLike[str]) -> None:
        """Put the bytes at ``destination``: the temporary file is renamed there when it can be (same
        file system), else copied. Once renamed, the file is no longer ours to remove (``path`` is
        None); the bytes can still be read until the request ends."""
        if self._path is not None:
            self._buffer.flush()
            try:
                os.replace(self._path, destination)
            except OSError:  # another file system: copy below
                pass
            else:
                self._own(self._buffer, None)  # close() must not remove whatever takes the old name
                return
        with open(destination, "wb") as out:
            shutil.copyfileobj(self.file(), out, MIB)

    def close(self) -> None:
        self._finalizer()

    def __repr__(self) -> str:
        return f"UploadedFile(name={self.name!r}, filename={self.filename!r}, size={self.size})"


class Form:
    """A parsed ``multipart/form-data`` body: text ``fields`` and uploaded ``files``, each by name,
    in the order sent (a name sent twice has two values)."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.files: dict[str, list[UploadedFile]] = {}

    def get(self, name: str) -> str | None:
        """The field's last value (as a form's value is usually read), None if absent."""
        values = self.fields.get(name)
        return values[-1] if values else None

    def getlist(self, name: str) -> list[str]:
        return list(self.fields.get(name, ()))

    def file(self, name: str) -> UploadedFile | None:
        files = self.files.get(name)
        return files[-1] if files else None

    def nested(self, name: str) -> dict[str, str] | None:
        """An object field as the openai SDK sends it in a form, one field per key:
        ``expires_after[anchor]`` and ``expires_after[seconds]`` -> ``{"anchor": ..., "seconds": ...}``
        (values as sent, text); None if none was sent."""
        prefix = name + "["
        found = {key[len(prefix):-1]: values[-1] for key, values in self.fields.items()
                 if key.startswith(prefix) and key.endswith("]") and values}
        return found or None

    def close(self) -> None:
        """Remove every uploaded file's bytes (the request is over)."""
        for files in self.files.values():
            for upload in files:
                upload.close()


class FormReader:
    """Parses a ``multipart/form-data`` body within ``limits``: ``read(chunks)`` (``aread`` for an async
    iterator) feeds it every chunk and returns the Form. Over a limit: a 413; not well formed: a 400
    (both in OpenAI's envelope). Whatever ends the read early (those, the chunks failing, the client
    going away) removes what was spooled. ``feed`` and ``finish`` are the steps, for a caller that
    feeds chunks itself and calls ``discard`` when it gives up."""

    def __init__(self, content_type: str, limits: Multipart) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise _malformed("the Content-Type header has no boundary")
        self.limits = limits
        self.form = Form()
        self._received = 0
        self._ended = False
        self._parts = 0
        self._fields_bytes = 0
        self._files = 0
        self._header_bytes = 0
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field: tuple[str, bytearray] | None = None
        self._upload: UploadedFile | None = None
        try:
            self._parser = MultipartParser(boundary, callbacks={
                "on_part_begin": self._part_begin, "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end, "on_end": self._end})
        except FormParserError as e:  # a boundary too long, say
            raise _malformed(str(e)) from None

    def read(self, chunks: Iterable[bytes]) -> Form:
        """The Form of the body that ``chunks`` yields."""
        with self._discarded_on_failure():
            for chunk in chunks:
                self.feed(chunk)
            return self.finish()

    async def aread(self, chunks: AsyncIterable[bytes]) -> Form:
        """``read`` for chunks that arrive asynchronously."""
        with self._discarded_on_failure():
            async for chunk in chunks:
                self.feed(chunk)
            return self.finish()

    @contextmanager
    def _discarded_on_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:  # too large, malformed, too slow, gone: nothing spooled is left behind
            self.discard()
            raise

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body."""
        self._received += len(chunk)
        if self._received > self.limits.max_body_bytes:
            raise too_large("The request body", self.limits.max_body_bytes)
        try:
            self._parser.write(chunk)
        except FormParserError as e:
            raise _malformed(str(e).rstrip(".")) from None

    def finish(self) -> Form:
        """The Form, once the body has all been fed."""
        if not self._ended:
            raise _malformed("it ends before its closing boundary")
        return self.form

    def discard(self) -> None:
        """Remove what was spooled (the request failed, or its client went away)."""
        if self._upload is not None:
            self._upload.close()
        self.form.close()

    # python-multipart's callbacks
    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > self.limits.max_parts:
            raise _malformed(f"it has more than {self.limits.max_parts} parts")
        self._headers = {}
        self._header_bytes = 0
        self._header_name = self._header_value = b""

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > _MAX_PART_HEADER_BYTES:
            raise _malformed(f"a part's headers are longer than {_MAX_PART_HEADER_BYTES} bytes")

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        kind, options = parse_options_header(self._headers.get(b"content-disposition"))
        name = options.get(b"name")
        if kind != b"form-data" or name is None:
            raise _malformed("a part has no Content-Disposition: form-data with a name")
        field = _text(name, "a part's name")
        filename = options.get(b"filename")
        if filename is None:
            self._field = (field, bytearray())
            return
        self._files += 1
        if self._files > self.limits.max_files:
            raise _malformed(f"it has more than {self.limits.max_files} file(s)")
        content_type = _text(self._headers.get(b"content-type", b"application/octet-stream"), "a part's Content-Type")
        self._upload = UploadedFile(field, _text(filename, "a file name"), content_type)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._upload is not None:
            if self._upload.size + size > self.limits.max_file_bytes:
                raise too_large(f"The file in '{self._upload.name}'", self.limits.max_file_bytes)
            self._upload._write(data[start:end])
        elif self._field is not None:
            name, value = self._field
            self._fields_bytes += size
            if len(value) + size > self.limits.max_field_bytes:
                raise too_large(f"The field '{name}'", self.limits.max_field_bytes)
            if self._fields_bytes > self.limits.max_fields_bytes:
                raise too_large("The form's fields", self.limits.max_fields_bytes)
            value += data[start:end]

    def _part_end(self) -> None:
        if self._upload is not None:
            self.form.files.setdefault(self._upload.name, []).append(self._upload)
            self._upload = None
        elif self._field is not None:
            name, value = self._field
            self.form.fields.setdefault(name, []).append(_text(bytes(value), f"the field '{name}'"))
            self._field = None

    def _end(self) -> None:
        self._ended = True


def _text(value: bytes, what: str) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(f"{what} is not UTF-8") from None
    if "\x00" in text:
        raise _malformed(f"{what} contains the NUL character")
    return text


def parse_form(body: bytes | bytearray, content_type: str, limits: Multipart) -> Form:
    """A whole body already in memory (sent as plain bytes rather than streamed) as a Form."""
    return FormReader(content_type, limits).read((bytes(body),))


__all__ = ["MAX_FILE_BYTES", "MAX_UPLOAD_PART_BYTES", "Form", "FormReader", "Multipart", "UploadedFile",
           "parse_form", "too_large"]
