"""An Embedder over OpenAI's embeddings endpoint (or any OpenAI-compatible one) through the openai SDK."""

from __future__ import annotations

from typing import Any

import openai

from supercompat.clients import forget_pooled_connections
from supercompat.embedders import EmbedKind
from supercompat.errors import BadGateway, ConfigError

from .adapter import OpenAIClientAdapter

# The dimensions of OpenAI's models when a request names none.
DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
# Models that take a ``dimensions`` parameter (shortened vectors).
SHORTENABLE = ("text-embedding-3-small", "text-embedding-3-large")


class OpenAIEmbedder:
    """``embed`` sends batches of at most ``batch_size`` texts through ``client.embeddings.create``.
    Each text is cut to ``max_input_chars`` characters first: OpenAI refuses an input over 8,192
    tokens, and 8,000 characters stay below that for nearly any text. Errors are mapped as the client
    adapter maps them (a provider's status kept, timeouts 504, unreachable 502)."""

    def __init__(self, client: openai.AsyncOpenAI, model: str = "text-embedding-3-small",
                 dimensions: int | None = None, *, max_input_chars: int = 8000, batch_size: int = 256,
                 owns_client: bool = False) -> None:
        if dimensions is None:
            if model not in DIMENSIONS:
                raise ConfigError(f"Name the dimensions of embedding model '{model}' (dimensions = ...): "
                                  f"only OpenAI's own models' are known.")
            dimensions = DIMENSIONS[model]
        self.client = client
        self.model = model
        self.dimensions = dimensions
        self.max_input_chars = max_input_chars
        self.batch_size = batch_size
        self._owns_client = owns_client
        # Sent only to the models that take it, and only when it shortens their vectors.
        self._extra: dict[str, Any] = (
            {"dimensions": dimensions} if model in SHORTENABLE and dimensions != DIMENSIONS[model] else {})

    async def embed(self, texts: list[str], *, kind: EmbedKind = "document") -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [text[:self.max_input_chars] or " " for text in texts[start:start + self.batch_size]]
            with OpenAIClientAdapter.errors:
                response = await self.client.embeddings.create(model=self.model, input=batch, **self._extra)
            items = sorted(response.data, key=lambda d: d.index)
            got = [[float(x) for x in item.embedding] for item in items]
            if len(got) != len(batch) or any(len(vector) != self.dimensions for vector in got):
                sizes = sorted({len(vector) for vector in got})
                raise BadGateway(f"The embedding provider answered {len(got)} vectors of {sizes} dimensions "
                                 f"for {len(batch)} texts; {self.dimensions} dimensions are configured "
                                 f"for '{self.model}'.")
            vectors.extend(got)
        return vectors

    def after_fork(self) -> None:
        """In a forked child (called by the App): the SDK's pooled connections are the parent's."""
        forget_pooled_connections(getattr(self.client, "_client", None))

    async def close(self) -> None:
        if self._owns_client:
            await self.client.close()
