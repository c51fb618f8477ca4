"""Embedders: text -> vectors, a plugin kind like storage (``[embedder]`` in ``supercompat.toml``,
hook ``register_embedders``). They answer ``client.embeddings.create`` and, later, index and search
vector stores. An App has none by default: embeddings requests are then refused saying how to
configure one, and search is keyword-only.

Core ships ``hashing``, a deterministic embedder that needs nothing: each word and each character
trigram of a word is hashed into a fixed number of dimensions, and the vector is L2-normalised. Texts
that share words score higher than texts that don't; it knows nothing of meaning (a paraphrase in
other words is not close), so it is for tests and a zero-dependency start, not for retrieval quality.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import sys
from array import array
from collections.abc import Callable
from typing import Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from .errors import BadGateway

EmbedKind = Literal["document", "query"]
T = TypeVar("T")


@runtime_checkable
class Embedder(Protocol):
    """Texts to vectors. ``model`` names what the vectors came from (a store records it, and is searched
    only with vectors of the same model); every vector has ``dimensions`` floats. An embedder serves
    many concurrent calls."""

    model: str
    dimensions: int

    async def embed(self, texts: list[str], *, kind: EmbedKind = "document") -> list[list[float]]:
        """One vector per text, in order; ``[]`` for ``[]``. ``kind``: ``"query"`` for a search query,
        ``"document"`` for what is searched (models that embed the two differently use it; others
        ignore it). A text of any length is taken: what the model can't see at once is truncated or
        embedded in windows, never an error. The same texts give the same vectors, in any batch."""

    async def close(self) -> None: ...


_WORD = re.compile(r"\w+")
# Above this many characters a call hashes (or counts tokens) in a worker thread (hashing takes about
# 0.3 us a character here): the loop's other requests go on meanwhile.
OFF_LOOP_CHARS = 50_000


@functools.lru_cache(maxsize=65536)
def _slot(feature: str, dimensions: int) -> tuple[int, float]:
    """Where a feature lands and with which sign: the same in every process (``hash()`` is salted)."""
    digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, (1.0 if value >> 63 else -1.0)


class HashingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dimensions: int = Field(256, ge=8, le=4096)


class HashingEmbedder:
    """Hashed words and character trigrams, L2-normalised (see the module's docstring)."""

    def __init__(self, dimensions: int = 256) -> None:
        self.dimensions = dimensions
        self.model = f"supercompat-hashing-{dimensions}"

    def vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in _WORD.findall(text.lower()):
            index, sign = _slot("w:" + word, self.dimensions)
            vector[index] += 2.0 * sign
            padded = f"<{word}>"
            for i in range(len(padded) - 2):
                index, sign = _slot("c:" + padded[i:i + 3], self.dimensions)
                vector[index] += sign
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector

    async def embed(self, texts: list[str], *, kind: EmbedKind = "document") -> list[list[float]]:
        return await off_loop_if_long(texts, lambda: [self.vector(text) for text in texts])

    async def close(self) -> None:
        pass


def hashing_embedder(dimensions: int = 256) -> HashingEmbedder:
    """The deterministic embedder core ships (``[embedder] plugin = "hashing"``)."""
    return HashingEmbedder(dimensions)


async def off_loop_if_long(texts: list[str], work: Callable[[], T]) -> T:
    """``work()`` (CPU work over ``texts``: hashing, counting tokens), in a worker thread when the texts
    pass OFF_LOOP_CHARS, so that the loop's other requests go on; a real thread under gevent too
    (asyncio.to_thread's isn't)."""
    if sum(map(len, texts)) <= OFF_LOOP_CHARS:
        return work()
    from ._threads import call_in_thread

    return await call_in_thread(work)


def batched(texts: list[str], max_items: int, max_tokens: int,
            count: Callable[[str], int]) -> list[list[str]]:
    """``texts`` in order, in batches of at most ``max_items`` texts and ``max_tokens`` tokens as
    ``count`` counts them (a provider's limits on one request; each text is assumed cut to fit)."""
    batches: list[list[str]] = []
    batch: list[str] = []
    tokens = 0
    for text in texts:
        size = count(text)
        if batch and (len(batch) == max_items or tokens + size > max_tokens):
            batches.append(batch)
            batch, tokens = [], 0
        batch.append(text)
        tokens += size
    if batch:
        batches.append(batch)
    return batches


def checked_vectors(vectors: list[list[float]], texts: int, dimensions: int, model: str) -> list[list[float]]:
    """A provider's answer for ``texts`` texts as floats, if it is one finite vector a text of
    ``dimensions``; else a 502 naming what came back (a NaN has no JSON, a short vector no place)."""
    floats = [[float(x) for x in vector] for vector in vectors]
    if len(floats) != texts or any(len(v) != dimensions for v in floats):
        sizes = sorted({len(v) for v in floats})
        raise BadGateway(f"The embedding provider answered {len(floats)} vectors of {sizes} dimensions for "
                         f"{texts} texts; {dimensions} dimensions are configured for '{model}'.")
    if not all(math.isfinite(x) for v in floats for x in v):
        raise BadGateway(f"The embedding provider answered vectors that are not all finite numbers "
                         f"('{model}').")
    return floats


def normalised(vector: list[float]) -> list[float]:
    """``vector`` scaled to length 1 (the zero vector stays as it is)."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def base64_vector(vector: list[float]) -> str:
    """A vector as OpenAI's ``encoding_format="base64"`` sends it: little-endian float32s, base64."""
    floats = array("f", vector)
    if sys.byteorder == "big":
        floats.byteswap()
    return base64.b64encode(floats.tobytes()).decode("ascii")


def cosine(a: list[float], b: list[float]) -> float:
    """The cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0


__all__ = ["EmbedKind", "Embedder", "HashingEmbedder", "HashingOptions", "base64_vector", "batched", "off_loop_if_long",
           "checked_vectors", "cosine", "hashing_embedder", "normalised"]
