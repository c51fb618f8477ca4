"""An Embedder over OpenAI's embeddings endpoint (or any OpenAI-compatible one) through the openai SDK."""

from __future__ import annotations

from typing import Any

import openai

from supercompat.clients import forget_pooled_connections
from supercompat.embedders import EmbedKind, batched, checked_vectors, off_loop_if_long
from supercompat.errors import ConfigError
from supercompat.ingest import count_tokens, cut_to_tokens

from .adapter import OpenAIClientAdapter

# The dimensions of OpenAI's models when a request names none.
DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
# Models that take a ``dimensions`` parameter (shortened vectors).
SHORTENABLE = ("text-embedding-3-small", "text-embedding-3-large")
MAX_INPUT_TOKENS = 8191  # OpenAI refuses an input of more than 8,192 tokens
# OpenAI refuses a request of more than 300,000 tokens in all; counted with cl100k, with room to spare.
MAX_BATCH_TOKENS = 250_000


def check_model(model: str, dimensions: int | None) -> int:
    """The dimensions of ``model``'s vectors, or a ConfigError for what OpenAI would refuse later."""
    if dimensions is None:
        if model not in DIMENSIONS:
            raise ConfigError(f"Name the dimensions of embedding model '{model}' (dimensions = ...): "
                              f"only OpenAI's own models' are known.")
        return DIMENSIONS[model]
    if model in DIMENSIONS and model not in SHORTENABLE and dimensions != DIMENSIONS[model]:
        raise ConfigError(f"Embedding model '{model}' makes vectors of {DIMENSIONS[model]} dimensions only "
                          f"(dimensions = {dimensions}); only {' and '.join(SHORTENABLE)} can be shortened.")
    if model in SHORTENABLE and dimensions > DIMENSIONS[model]:
        raise ConfigError(f"Embedding model '{model}' makes vectors of at most {DIMENSIONS[model]} "
                          f"dimensions "
                          f"(dimensions = {dimensions}).")
    return dimensions


class OpenAIEmbedder:
    """``embed`` sends batches of at most ``batch_size`` texts and ``MAX_BATCH_TOKENS`` tokens (counted
    with core's cl100k tokenizer; OpenAI refuses a request of more than 300,000) through
    ``client.embeddings.create``. Each text for one of OpenAI's own models is cut to 8,191 tokens first
    (OpenAI refuses an input over 8,192); for other models, to ``max_input_chars`` characters.
    Errors are mapped as the client adapter maps them (a provider's status kept, timeouts 504,
    unreachable 502)."""

    def __init__(self, client: openai.AsyncOpenAI, model: str = "text-embedding-3-small",
                 dimensions: int | None = None, *, max_input_chars: int = 8000, batch_size: int = 256,
                 owns_client: bool = False) -> None:
        dimensions = check_model(model, dimensions)
        self.client = client
        self.model = model
        self.dimensions = dimensions
        self.max_input_chars = max_input_chars
        self.batch_size = batch_size
        self._owns_client = owns_client
        # Sent only to the models that take it, and only when it shortens their vectors.
        self._extra: dict[str, Any] = (
            {"dimensions": dimensions} if model in SHORTENABLE and dimensions != DIMENSIONS[model] else {})

    def _cut(self, text: str) -> str:
        if self.model in DIMENSIONS:
            return cut_to_tokens(text, MAX_INPUT_TOKENS) or " "
        return text[:self.max_input_chars] or " "

    def batches(self, texts: list[str]) -> list[list[str]]:
        """``texts``, cut, in batches of at most ``batch_size`` items and ``MAX_BATCH_TOKENS`` tokens."""
        return batched([self._cut(text) for text in texts], self.batch_size, MAX_BATCH_TOKENS, count_tokens)

    async def embed(self, texts: list[str], *, kind: EmbedKind = "document") -> list[list[float]]:
        batches = await off_loop_if_long(texts, lambda: self.batches(texts))
        vectors: list[list[float]] = []
        for batch in batches:
            with OpenAIClientAdapter.errors:
                response = await self.client.embeddings.create(model=self.model, input=batch, **self._extra)
            items = sorted(response.data, key=lambda d: d.index)
            vectors.extend(checked_vectors([item.embedding for item in items], len(batch), self.dimensions,
                                           self.model))
        return vectors

    def after_fork(self) -> None:
        """In a forked child (called by the App): the SDK's pooled connections are the parent's."""
        forget_pooled_connections(getattr(self.client, "_client", None))

    async def close(self) -> None:
        if self._owns_client:
            await self.client.close()
