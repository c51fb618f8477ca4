"""The ``memory`` chunk index: BM25 over words and exact cosine search over numpy arrays, in this
process's memory (the index of the memory storage). Every method runs without awaiting, so each is
atomic on the App's loop."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .search import (
    Hit,
    IndexedChunk,
    SearchQuery,
    best_rows,
    candidates,
    fuse_search,
    keyword_plan,
    keywords,
    similarities,
    unit_vector,
)

if TYPE_CHECKING:
    import numpy as np

BM25_K1 = 1.2
BM25_B = 0.75
ChunkKey = tuple[str, int]  # (file id, seq) within a store


class _Store:
    """The chunks of one vector store, with their BM25 postings and a matrix of their vectors."""

    def __init__(self) -> None:
        self.texts: dict[ChunkKey, str] = {}
        self.lengths: dict[ChunkKey, int] = {}  # in keywords
        self.total_length = 0  # their sum, kept as chunks come and go (BM25 needs the average)
        self.postings: dict[str, dict[ChunkKey, int]] = {}  # keyword -> chunk -> count
        self.vectors: dict[ChunkKey, np.ndarray] = {}
        self._matrix: tuple[list[ChunkKey], np.ndarray] | None = None  # rebuilt after a change

    def add(self, file_id: str, chunk: IndexedChunk) -> None:
        key = (file_id, chunk.seq)
        self.drop(key)
        self.texts[key] = chunk.text
        counts = Counter(keywords(chunk.text))
        self.lengths[key] = sum(counts.values())
        self.total_length += self.lengths[key]
        for word, count in counts.items():
            self.postings.setdefault(word, {})[key] = count
        vector = unit_vector(chunk.vector)
        if vector is not None:
            self.vectors[key] = vector
            self._matrix = None

    def drop(self, key: ChunkKey) -> None:
        text = self.texts.pop(key, None)
        if text is None:
            return
        self.total_length -= self.lengths.pop(key)
        for word in set(keywords(text)):
            posting = self.postings.get(word)
            if posting is not None:
                posting.pop(key, None)
                if not posting:
                    del self.postings[word]
        if self.vectors.pop(key, None) is not None:
            self._matrix = None

    def keyword_ranking(self, words: list[str], allowed: frozenset[str] | None,
                        limit: int) -> list[tuple[ChunkKey, float]]:
        """BM25 over the words :func:`keyword_plan` keeps (the rarest, or all of them required)."""
        n = len(self.texts)
        if not n or not words:
            return []
        plan = keyword_plan({word: len(self.postings.get(word, ())) for word in dict.fromkeys(words)})
        postings = [posting for word in plan.words if (posting := self.postings.get(word))]
        if not postings or (plan.every and len(postings) < len(plan.words)):
            return []
        average = self.total_length / n
        idfs = [math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5)) for posting in postings]

        def weight(key: ChunkKey, count: int, idf: float) -> float:
            norm = BM25_K1 * (1 - BM25_B + BM25_B * self.lengths[key] / average)
            return idf * count * (BM25_K1 + 1) / (count + norm)

        scores: dict[ChunkKey, float] = {}
        if plan.every:  # the chunks of the smallest posting that are in every other, and only those
            for key in min(postings, key=len):
                if (allowed is None or key[0] in allowed) and all(key in posting for posting in postings):
                    scores[key] = sum(weight(key, posting[key], idf)
                                      for posting, idf in zip(postings, idfs, strict=True))
        else:
            for posting, idf in zip(postings, idfs, strict=True):
                for key, count in posting.items():
                    if allowed is None or key[0] in allowed:
                        scores[key] = scores.get(key, 0.0) + weight(key, count, idf)
        return heapq.nlargest(limit, scores.items(), key=lambda item: item[1])

    def vector_ranking(self, query: np.ndarray, allowed: frozenset[str] | None,
                       limit: int) -> list[tuple[ChunkKey, float]]:
        if not self.vectors:
            return []
        import numpy as np

        if self._matrix is None:
            keys = list(self.vectors)
            self._matrix = (keys, np.vstack([self.vectors[k] for k in keys]))
        keys, matrix = self._matrix
        if matrix.shape[1] != query.shape[0]:
            return []  # vectors of another embedder: this store is searched by keyword only
        scores = similarities(matrix, query)
        files = [key[0] for key in keys] if allowed is not None else None
        return [(keys[i], float(scores[i])) for i in best_rows(scores, limit, files, allowed)]


def ranked(scored: list[tuple[tuple[str, str, int], float]]) -> list[tuple[str, str, int]]:
    """The keys of several stores' rankings, merged by score (each store ranked its own)."""
    return [key for key, _ in sorted(scored, key=lambda item: -item[1])]


class MemoryChunkIndex:
    """Chunks in memory, searched exactly: BM25 and cosine similarity, fused (see ``supercompat.search``)."""

    def __init__(self) -> None:
        self._stores: dict[str, _Store] = {}

    async def add(self, store_id: str, file_id: str, chunks: Sequence[IndexedChunk]) -> None:
        store = self._stores.setdefault(store_id, _Store())
        for chunk in chunks:
            store.add(file_id, chunk)

    async def remove(self, store_id: str, file_id: str | None = None) -> None:
        if file_id is None:
            self._stores.pop(store_id, None)
            return
        store = self._stores.get(store_id)
        if store is not None:
            for key in [k for k in store.texts if k[0] == file_id]:
                store.drop(key)

    async def texts(self, store_id: str, file_id: str) -> list[str]:
        store = self._stores.get(store_id)
        if store is None:
            return []
        return [text for _, text in sorted((k[1], t) for k, t in store.texts.items() if k[0] == file_id)]

    async def search(self, query: SearchQuery) -> list[Hit]:
        words = keywords(query.text)
        vector = unit_vector(query.vector)
        by_keyword: list[tuple[tuple[str, str, int], float]] = []
        by_vector: list[tuple[tuple[str, str, int], float]] = []
        depth = candidates(query.limit)
        for store_id in dict.fromkeys(query.store_ids):
            store = self._stores.get(store_id)
            if store is None:
                continue
            by_keyword += [((store_id, *k), s) for k, s in store.keyword_ranking(words, query.file_ids, depth)]
            if vector is not None:
                by_vector += [((store_id, *k), s) for k, s in store.vector_ranking(vector, query.file_ids, depth)]
        fused = fuse_search(ranked(by_keyword), ranked(by_vector) if vector is not None else None,
                            limit=query.limit)
        return [Hit(store_id, file_id, seq, self._stores[store_id].texts[(file_id, seq)], score)
                for (store_id, file_id, seq), score in fused]

    async def close(self) -> None:
        self._stores.clear()


def memory_chunk_index() -> MemoryChunkIndex:
    """Chunks in this process's memory (the memory storage's index)."""
    return MemoryChunkIndex()


__all__ = ["MemoryChunkIndex", "memory_chunk_index"]
