"""EmbedderTests: the behaviour every Embedder must have (``supercompat.embedders``), and the
deterministic fake embedder the other kits (search, vector stores) run on."""

from __future__ import annotations

import asyncio
import math

from ..embedders import Embedder, HashingEmbedder, cosine
from .kit import Kit, fixture, mark, pytest


def fake_embedder(dimensions: int = 256) -> HashingEmbedder:
    """A deterministic embedder that needs nothing (core's ``hashing``): texts that share words are
    close, others are not. For kits and tests that need vectors, not meaning."""
    return HashingEmbedder(dimensions)


TEXTS = ["The quick brown fox jumps over the lazy dog.", "Python's asyncio runs coroutines on an event loop.",
         "A short one.", "x"]
UNICODE = ["Café crème brûlée", "日本語のテキストを埋め込む", "emoji 🚀🔥 and combining e\u0301", "Ελληνικά κείμενα",
           "\u200b zero width and tabs\t\tand\nnewlines"]
# (text, a paraphrase in other words, unrelated text): a model of meaning puts the first two closer.
PARAPHRASES = [
    ("How do I reset my password?", "I forgot my login credentials and need new ones.",
     "The recipe needs two cups of flour and an egg."),
    ("The weather is cold and rainy today.", "It's chilly and wet outside this afternoon.",
     "Stock markets closed higher after the earnings report."),
    ("A dog is running in the park.", "A puppy sprints across the grass.",
     "The compiler reported a syntax error on line 12."),
]
# (text, one that shares its words, unrelated text): every embedder, even one of words alone.
OVERLAPS = [
    ("How do I reset my password?", "Steps to reset a forgotten password",
     "The recipe needs two cups of flour and an egg."),
    ("PostgreSQL full text search with tsvector", "full text search in PostgreSQL",
     "A puppy sprints across the grass."),
]


def _close(a: list[float], b: list[float]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6) for x, y in zip(a, b, strict=True))


class EmbedderTests(Kit, standard=True):
    """Subclass and provide an async fixture ``embedder``. ``paraphrases_are_close = False`` skips
    the test of meaning, for an embedder of words alone (core's ``hashing``)."""

    paraphrases_are_close = True
    long_input_chars = 200_000  # a text far past any model's window

    @fixture
    async def embedder(self) -> Embedder:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide an `embedder` fixture")

    async def _embed(self, embedder: Embedder, texts: list[str], kind: str = "document") -> list[list[float]]:
        vectors = await embedder.embed(texts, kind=kind)  # type: ignore[arg-type]
        assert len(vectors) == len(texts)
        for vector in vectors:
            assert len(vector) == embedder.dimensions
            assert all(isinstance(x, float) and math.isfinite(x) for x in vector)
        return vectors

    # -- shapes ---------------------------------------------------------------------------------
    async def test_names_its_model_and_dimensions(self, embedder: Embedder) -> None:
        assert isinstance(embedder.model, str) and embedder.model
        assert isinstance(embedder.dimensions, int) and embedder.dimensions > 0
        assert isinstance(embedder, Embedder)

    @mark.parametrize("kind", ["document", "query"])
    async def test_one_vector_per_text_of_its_dimensions(self, embedder: Embedder, kind: str) -> None:
        vectors = await self._embed(embedder, TEXTS, kind)
        assert all(any(x != 0.0 for x in vector) for vector in vectors)

    async def test_an_empty_list_gives_an_empty_list(self, embedder: Embedder) -> None:
        assert await embedder.embed([]) == []

    # -- determinism ----------------------------------------------------------------------------
    async def test_the_same_text_gives_the_same_vector(self, embedder: Embedder) -> None:
        first = await self._embed(embedder, TEXTS)
        second = await self._embed(embedder, TEXTS)
        assert all(_close(a, b) for a, b in zip(first, second, strict=True))

    async def test_a_batch_equals_one_by_one(self, embedder: Embedder) -> None:
        batch = await self._embed(embedder, [*TEXTS, *UNICODE])
        single = [(await self._embed(embedder, [text]))[0] for text in [*TEXTS, *UNICODE]]
        assert all(_close(a, b) for a, b in zip(batch, single, strict=True))

    async def test_different_texts_give_different_vectors(self, embedder: Embedder) -> None:
        vectors = await self._embed(embedder, TEXTS)
        for i, a in enumerate(vectors):
            for b in vectors[i + 1:]:
                assert not _close(a, b)

    # -- any text -------------------------------------------------------------------------------
    async def test_unicode(self, embedder: Embedder) -> None:
        vectors = await self._embed(embedder, UNICODE)
        assert all(any(x != 0.0 for x in vector) for vector in vectors)

    async def test_a_long_input_is_taken(self, embedder: Embedder) -> None:
        sentence = "Retrieval augmented generation splits documents into chunks. "
        long_text = (sentence * (self.long_input_chars // len(sentence) + 1))[:self.long_input_chars]
        [vector] = await self._embed(embedder, [long_text])  # truncated or windowed, never an error
        assert any(x != 0.0 for x in vector)

    @mark.parametrize("unit", ["🚀🔥", "日本語のテキスト", "e\u0301"])
    async def test_a_long_input_of_many_tokens_a_character_is_taken(self, embedder: Embedder,
                                                                    unit: str) -> None:
        # Emoji, CJK and combining marks are several tokens a character: a cut by characters alone
        # leaves far more tokens than a model takes.
        long_text = (unit * (self.long_input_chars // len(unit) + 1))[:self.long_input_chars]
        # truncated or windowed, never an error
        [vector] = await self._embed(embedder, [f"start {long_text}"])
        assert any(x != 0.0 for x in vector)

    # -- closeness ------------------------------------------------------------------------------
    @mark.parametrize("text, near, far", OVERLAPS)
    async def test_shared_words_are_closer_than_unrelated_text(self, embedder: Embedder, text: str, near: str,
                                                              far: str) -> None:
        [query] = await self._embed(embedder, [text], "query")
        near_vector, far_vector = await self._embed(embedder, [near, far])
        assert cosine(query, near_vector) > cosine(query, far_vector)

    @mark.parametrize("text, near, far", PARAPHRASES)
    async def test_paraphrases_are_closer_than_unrelated_text(self, embedder: Embedder, text: str, near: str,
                                                             far: str) -> None:
        if not self.paraphrases_are_close:
            pytest.skip("an embedder of words alone: paraphrases in other words are not close")
        [query] = await self._embed(embedder, [text], "query")
        near_vector, far_vector = await self._embed(embedder, [near, far])
        assert cosine(query, near_vector) > cosine(query, far_vector)

    # -- concurrency ----------------------------------------------------------------------------
    async def test_concurrent_calls_get_their_own_vectors(self, embedder: Embedder) -> None:
        texts = [f"{TEXTS[i % len(TEXTS)]} number {i}" for i in range(24)]
        expected = [(await self._embed(embedder, [text]))[0] for text in texts]
        batches = [texts[i:i + 3] for i in range(0, len(texts), 3)]
        results = await asyncio.gather(*(self._embed(embedder, batch) for batch in batches))
        got = [vector for batch in results for vector in batch]
        assert all(_close(a, b) for a, b in zip(got, expected, strict=True))
