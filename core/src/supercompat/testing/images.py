"""Images in runs, for tests: a small real PNG, the bytes of a file put where a run reads them, and a
run over a thread whose user message carries image parts.

    client = supercompat(client_adapter=my_adapter)
    file_id = put_file(client, PNG)
    run_with_content(client, [{"type": "text", "text": "What is it?"},
                              {"type": "image_file", "image_file": {"file_id": file_id}}])
    # then check what the fake provider recorded: the image in the provider's own wire format
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any


def _png() -> bytes:
    """A 2x2 RGBA PNG (its bytes include ones that base64 encodes to ``+`` and ``/``)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes([255, 0, 0, 255, 0, 0, 255, 128]) for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = _png()
PNG_BASE64 = base64.b64encode(PNG).decode("ascii")
PNG_URL = f"data:image/png;base64,{PNG_BASE64}"
# A user message's image_url parts, one of each kind: an http(s) URL with a detail, a data: URL without.
IMAGE_URL_PARTS = (
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    {"type": "image_url", "image_url": {"url": PNG_URL}})


def put_file(client: Any, data: bytes, filename: str = "image") -> str:
    """Store ``data`` as a File (purpose ``vision``) of the App behind ``client`` (made by
    ``supercompat()`` or ``async_supercompat()``, sync or async alike) and return its id, for an
    ``image_file`` part to name."""
    from .. import loop
    from ..files import store_file
    from . import app_of

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    app: Any = app_of(client)
    file = loop.run_sync(store_file(app, project=None, filename=filename, purpose="vision", chunks=chunks()))
    return str(file["id"])


def run_with_content(client: Any, content: list[dict[str, Any]], **run: Any) -> Any:
    """Create an assistant and a thread whose one user message is ``content`` with a sync client,
    run it to its end (``run``: more run parameters) and return the run."""
    assistant = client.beta.assistants.create(model="test-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])
    return client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, **run)


__all__ = ["IMAGE_URL_PARTS", "PNG", "PNG_BASE64", "PNG_URL", "put_file", "run_with_content"]
