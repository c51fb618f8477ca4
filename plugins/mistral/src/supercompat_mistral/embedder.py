"""An Embedder over Mistral's embeddings endpoint through the mistralai SDK (imported only when an
embedder is made)."""

from __future__ import annotations

from typing import Any

from mistralai.client import errors

from supercompat.embedders import EmbedKind, batched, checked_vectors, off_loop_if_long
from supercompat.errors import ConfigError
from supercompat.ingest import count_tokens, cut_to_tokens
from supercompat.providers import ErrorTable, unreadable

from .adapter import MistralClientAdapter

# Mistral's embedding models: the size of their vectors, and the largest ``output_dimension`` they take
# (None: they take none).
MODELS = {"mistral-embed": (1024, None), "codestral-embed": (1536, 3072)}
MAX_INPUT_TOKENS = 8192  # Mistral refuses a longer input
MAX_BATCH_TOKENS = 16_384  # ... and a request of more tokens in all
MAX_BATCH = 512  # ... or of more inputs

# The client adapter's, but an answer that can't be read is no chat completion here.
ERRORS = ErrorTable((errors.ResponseValidationError, unreadable), *MistralClientAdapter.errors.rows)


def estimated_tokens(text: str) -> int:
    """At least as many tokens as Mistral's tokenizer makes of ``text``, as far as can be told without
    it: core's cl100k count, or one token per three ASCII characters and one per byte of any other
    character (its byte fallback), whichever is more."""
    data = text.encode("utf-8", "surrogatepass")
    ascii_chars = len(data.decode("ascii", "ignore"))
    return max(count_tokens(text), ascii_chars // 3 + len(data) - ascii_chars)


def cut_to_estimate(text: str, limit: int) -> str:
    """``text`` cut until :func:`estimated_tokens` says it is at most ``limit`` tokens."""
    text = cut_to_tokens(text, limit)
    while (estimate := estimated_tokens(text)) > limit:
        text = text[:len(text) * limit // estimate - 1]
    return text


def check_model(model: str, dimensions: int | None) -> int:
    """The dimensions of ``model``'s vectors, or a ConfigError for what Mistral would refuse later."""
    known = MODELS.get(model)
    if dimensions is None:
        if known is None:
            raise ConfigError(f"Name the dimensions of embedding model '{model}' (dimensions = ...): only "
                              f"{' and '.join(MODELS)}'s are known.")
        return known[0]
    if known is not None and dimensions != known[0]:
        size, largest = known
        if largest is None:
            raise ConfigError(f"Embedding model '{model}' makes vectors of {size} dimensions only "
                              f"(dimensions = {dimensions}).")
        if dimensions > largest:
            raise ConfigError(f"Embedding model '{model}' makes vectors of at most {largest} dimensions "
                              f"(dimensions = {dimensions}).")
    return dimensions


def _create(client: Any, request: dict[str, Any], is_async: bool) -> Any:
    return client.embeddings.create_async(**request) if is_async else client.embeddings.create(**request)


class MistralEmbedder:
    """``embed`` sends batches of at most ``batch_size`` texts (Mistral takes 512) and 16,384 tokens
    through the SDK's ``embeddings.create_async`` (or ``create``, in a worker thread, for a client built
    with only a sync http client). Each text is cut to 8,192 tokens first (Mistral refuses more). Without
    Mistral's tokenizer, tokens are estimated generously (:func:`estimated_tokens`). ``kind`` is
    ignored: Mistral's models embed queries and documents alike. Errors are mapped as the client adapter
    maps them (an answer that can't be read is a 502 saying so)."""

    def __init__(self, adapter: MistralClientAdapter, model: str = "mistral-embed",
                 dimensions: int | None = None, *, batch_size: int = 128) -> None:
        self.dimensions = check_model(model, dimensions)
        self.adapter = adapter
        self.model = model
        self.batch_size = batch_size
        known = MODELS.get(model)
        # Sent only to the models that take it, and only when it changes their vectors' size.
        self._request: dict[str, Any] = {"model": model}
        if known is not None and self.dimensions != known[0]:
            self._request["output_dimension"] = self.dimensions

    def batches(self, texts: list[str]) -> list[list[str]]:
        """``texts``, cut, in batches of at most ``batch_size`` texts and 16,384 estimated tokens."""
        cut = [cut_to_estimate(text, MAX_INPUT_TOKENS) or " " for text in texts]
        return batched(cut, self.batch_size, MAX_BATCH_TOKENS, estimated_tokens)

    async def embed(self, texts: list[str], *, kind: EmbedKind = "document") -> list[list[float]]:
        batches = await off_loop_if_long(texts, lambda: self.batches(texts))
        vectors: list[list[float]] = []
        for batch in batches:
            with ERRORS:
                response = await self.adapter.call(_create, {**self._request, "inputs": batch},
                                                   self.adapter.is_async)
            items = sorted(response.data or (), key=lambda item: item.index or 0)
            got = [list(item.embedding or ()) for item in items]
            vectors.extend(checked_vectors(got, len(batch), self.dimensions, self.model))
        return vectors

    def after_fork(self) -> None:
        """In a forked child (called by the App): the SDK's pooled connections are the parent's."""
        self.adapter.after_fork()

    async def close(self) -> None:
        """Closes the SDK client only if the embedder made it (from configuration)."""
        await self.adapter.aclose()
