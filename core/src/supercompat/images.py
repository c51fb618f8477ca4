"""Images in prompts, in one place for core and the client plugins: what OpenAI accepts as an image
input, telling an image's type from its bytes, and ``data:`` URLs.

A run's ``image_file`` parts reach the client adapter as chat-completions ``image_url`` parts whose
URL is a ``data:`` URL made here (:func:`data_url`); a client plugin whose provider wants the media
type and the base64 data apart reads them back with :func:`split_data_url`.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote_to_bytes

# OpenAI's limits on image inputs (its vision guide): 20 MB per image, 50 MB of images per request.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_REQUEST_IMAGE_BYTES = 50 * 1024 * 1024

# The image types OpenAI takes (PNG, JPEG, WEBP, GIF), which every provider here takes too, by the
# bytes they start with: a file's name or declared type may say otherwise.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
               (b"GIF89a", "image/gif"))
SNIFF_BYTES = 12  # enough of the start of a file to tell its type


def image_type(head: bytes) -> str | None:
    """The media type of the image whose bytes start with ``head`` (at least :data:`SNIFF_BYTES` of
    them, when the file has that many): ``image/png``, ``image/jpeg``, ``image/gif`` or
    ``image/webp``; None for anything else."""
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def data_url(media_type: str, data: bytes) -> str:
    """``data:<media_type>;base64,<data>``."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def split_data_url(url: str) -> tuple[str, str] | None:
    """``(media type, base64 data)`` of a ``data:`` URL (one without ``;base64`` has its
    percent-encoded data encoded in base64 here); None if ``url`` is no ``data:`` URL. Raises
    ValueError for a ``data:`` URL with no media type or no data. The data is not decoded: the
    provider checks it."""
    if url[:5].lower() != "data:":
        return None
    header, comma, payload = url[5:].partition(",")
    params = header.split(";")
    media_type = params[0].strip().lower()
    if not comma or not media_type or not payload:
        raise ValueError("An image's data: URL needs a media type and data.")
    if any(p.strip().lower() == "base64" for p in params[1:]):
        return media_type, payload
    return media_type, base64.b64encode(unquote_to_bytes(payload)).decode("ascii")


__all__ = ["MAX_IMAGE_BYTES", "MAX_REQUEST_IMAGE_BYTES", "SNIFF_BYTES", "data_url", "image_type",
           "split_data_url"]
