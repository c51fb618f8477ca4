"""Images in prompts, in one place for core and the client plugins: what OpenAI accepts as an image
input, telling an image's type from its bytes, ``data:`` URLs, and what other providers take.

A run's ``image_file`` parts reach the client adapter as chat-completions ``image_url`` parts whose
URL is a ``data:`` URL made here (:func:`data_url`); a client plugin whose provider wants the media
type and the base64 data apart reads them back with :func:`split_data_url`. Core holds images to
OpenAI's limits only; a client plugin whose provider takes less (other types, smaller images, fewer
of them) says so in :class:`ImageLimits` and checks each request's images with it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from .errors import InvalidPrompt

# OpenAI's limits on image inputs (its vision guide): 20 MB per image, 50 MB of images per request.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_REQUEST_IMAGE_BYTES = 50 * 1024 * 1024

# The image types OpenAI takes (PNG, JPEG, WEBP, GIF), by the bytes they start with: a file's name
# or declared type may say otherwise. Not every provider takes them all (see ImageLimits).
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


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What one provider takes of a request's images: their media ``types``; at most ``image_bytes``
    of base64 for one image sent inline, ``request_bytes`` for all of a request's inline images, and
    ``images`` images in one request (None: no limit of that kind). A client adapter checks a request
    with :meth:`check`, so that what the provider would refuse (with an error that fails a run as a
    generic ``server_error``) is refused before it is sent, as a prompt that can't be sent."""

    provider: str
    types: tuple[str, ...]
    image_bytes: int | None = None
    request_bytes: int | None = None
    images: int | None = None

    def check(self) -> ImageCheck:
        """A check of one request's images, to :meth:`ImageCheck.add` each of them to in turn."""
        return ImageCheck(self)


class ImageCheck:
    """The images of one request so far, against the provider's :class:`ImageLimits`."""

    __slots__ = ("limits", "count", "inline_bytes")

    def __init__(self, limits: ImageLimits) -> None:
        self.limits = limits
        self.count = 0
        self.inline_bytes = 0

    def add(self, param: str, media_type: str | None, data: str | None = None) -> None:
        """One more image, at ``param`` of the request (``messages[1].content[2]``): of
        ``media_type`` (None: not known here, as for a URL the provider fetches), ``data`` its base64
        if it goes inline (None: the provider fetches it by URL).
        Raises :class:`supercompat.errors.InvalidPrompt` naming ``param`` for one the provider would
        refuse: a run fails with ``last_error.code`` ``invalid_prompt``."""
        limits, provider = self.limits, self.limits.provider
        if media_type is not None and media_type not in limits.types:
            names = [t.removeprefix("image/").upper() for t in limits.types]
            raise InvalidPrompt(f"The image at {param} is {media_type}, which {provider} does not take: it "
                                f"takes {', '.join(names[:-1])} and {names[-1]} images.", param=param)
        self.count += 1
        if limits.images is not None and self.count > limits.images:
            raise InvalidPrompt(f"The image at {param} is one too many: {provider} takes at most "
                                f"{limits.images} images in one request.", param=param)
        if data is None:
            return
        size = len(data)
        if limits.image_bytes is not None and size > limits.image_bytes:
            raise InvalidPrompt(f"The image at {param} is {size} bytes in base64, more than the "
                                f"{_mb(limits.image_bytes)} {provider} takes for one image.", param=param)
        self.inline_bytes += size
        if limits.request_bytes is not None and self.inline_bytes > limits.request_bytes:
            most = _mb(limits.request_bytes)
            raise InvalidPrompt(f"The image at {param} takes the request's images to {self.inline_bytes} "
                                f"bytes in base64, more than the {most} {provider} takes in one request.",
                                param=param)


def _mb(size: int) -> str:
    return f"{size / 2**20:g} MB ({size} bytes)"


__all__ = ["MAX_IMAGE_BYTES", "MAX_REQUEST_IMAGE_BYTES", "SNIFF_BYTES", "ImageCheck", "ImageLimits",
           "data_url", "image_type", "split_data_url"]
