"""An Embedder over Gemini's embeddings (``batchEmbedContents``) through the google-genai SDK (imported
only when an embedder is made)."""

from __future__ import annotations

from typing import Any

from google.genai import types

from supercompat.embedders import EmbedKind, checked_vectors, normalised, off_loop_if_long
from supercompat.errors import ConfigError
from supercompat.ingest import cut_to_tokens

from .adapter import GoogleClientAdapter

# Google's text embedding models: the size of their vectors, and the smallest ``output_dimensionality``
# they document (gemini-embedding-001: 128 to 3072).
MODELS = {"gemini-embedding-001": (3072, 128), "text-embedding-004": (768, 1)}
MAX_INPUT_TOKENS = 2048  # what both models see of a text
MAX_BATCH = 100  # batchEmbedContents refuses more texts in one request
TASK_TYPES = {"document": "RETRIEVAL_DOCUMENT", "query": "RETRIEVAL_QUERY"}


def check_model(model: str, dimensions: int | None) -> int:
    """The dimensions of ``model``'s vectors, or a ConfigError for what Gemini would refuse later."""
    known = MODELS.get(model.removeprefix("models/"))
    if dimensions is None:
        if known is None:
            raise ConfigError(f"Name the dimensions of embedding model '{model}' (dimensions = ...): only "
                              f"{' and '.join(MODELS)}'s are known.")
        return known[0]
    if known is not None and not known[1] <= dimensions <= known[0]:
        raise ConfigError(f"Embedding model '{model}' makes vectors of {known[1]} to {known[0]} dimensions "
                          f"(dimensions = {dimensions}).")
    return dimensions


def _embed_content(client: Any, model: str, contents: list[types.Content],
                   config: types.EmbedContentConfig) -> Any:
    return client.models.embed_content(model=model, contents=contents, config=config)


class GoogleEmbedder:
    """``embed`` sends at most ``batch_size`` texts (Gemini takes 100) a request through the SDK's
    ``models.embed_content``, each text as a content of its own (the SDK would merge plain strings into
    one for multimodal models), with ``task_type`` ``RETRIEVAL_DOCUMENT`` or ``RETRIEVAL_QUERY`` as
    ``kind`` says. Each text is cut to ``max_input_tokens`` (2,048, what the models see; counted with
    core's cl100k tokenizer, an estimate of Gemini's). Vectors are L2-normalised: Google documents that
    gemini-embedding-001's are only at full size. Errors are mapped as the client adapter maps them."""

    def __init__(self, adapter: GoogleClientAdapter, model: str = "gemini-embedding-001",
                 dimensions: int | None = None, *, max_input_tokens: int = MAX_INPUT_TOKENS,
                 batch_size: int = MAX_BATCH) -> None:
        self.dimensions = check_model(model, dimensions)
        self.adapter = adapter
        self.model = model
        self.max_input_tokens = max_input_tokens
        self.batch_size = batch_size
        known = MODELS.get(model.removeprefix("models/"))
        # Sent only when it shortens a known model's vectors.
        self._shortened = ({"output_dimensionality": self.dimensions}
                           if known is not None and self.dimensions != known[0] else {})

    def batches(self, texts: list[str]) -> list[list[str]]:
        """``texts``, cut, in batches of at most ``batch_size``."""
        cut = [cut_to_tokens(text, self.max_input_tokens) or " " for text in texts]
        return [cut[i:i + self.batch_size] for i in range(0, len(cut), self.batch_size)]

    async def embed(self, texts: list[str], *, kind: EmbedKind = "document") -> list[list[float]]:
        batches = await off_loop_if_long(texts, lambda: self.batches(texts))
        config = types.EmbedContentConfig(task_type=TASK_TYPES[kind], **self._shortened)
        vectors: list[list[float]] = []
        for batch in batches:
            contents = [types.Content(parts=[types.Part(text=text)]) for text in batch]
            with self.adapter.errors:
                response = await self.adapter.call(_embed_content, self.model, contents, config)
            got = [list(embedding.values or ()) for embedding in response.embeddings or ()]
            vectors.extend(map(normalised, checked_vectors(got, len(batch), self.dimensions, self.model)))
        return vectors

    def after_fork(self) -> None:
        """In a forked child (called by the App): the SDK's pooled connections are the parent's."""
        self.adapter.after_fork()

    async def close(self) -> None:
        """Closes the SDK client only if the embedder made it (from configuration)."""
        await self.adapter.aclose()
