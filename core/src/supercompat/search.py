"""Chunk indexes: where the searchable chunks of vector stores live, and how they are searched.

A vector store's files are cut into chunks at ingestion (``supercompat.ingest``), embedded if the
store has an embedder, and added to the App's chunk index; a search asks the index for the best
chunks of some stores. Search is hybrid: a keyword ranking (BM25 or the database's full-text
search) and, when the query has a vector, a vector ranking (cosine similarity), fused by reciprocal
rank (:func:`fuse`). Without an embedder only the keyword ranking exists.

The index lives with the data by default (the storage adapter's ``default_chunk_index()``: the
memory storage keeps chunks in memory, the SQL storage in its database); a plugin kind (``[index]``
in ``supercompat.toml``, hook ``register_chunk_indexes``) lets an external vector database take
their place without touching core. Filters on file ``attributes`` are evaluated by core, which
passes the index the files they leave (``SearchQuery.file_ids``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

# How a search fuses its two rankings (docs/performance.md, bench/retrieval.py): each ranking's best
# ``limit`` chunks only, by reciprocal rank with k = 10, the vector ranking weighing 0.6 and the keyword
# ranking 0.4. Measured with the local MiniLM embedder on 60 paraphrased questions, hybrid recall@5 was
# 0.78 with the textbook fusion (k = 60, equal weights, rankings 50 deep), below vector search alone
# (0.88): deep rankings let chunks that both rank only fairly outrank the vector ranking's best, and the
# keyword ranking is the weaker of the two on questions in other words than the text's. This setting
# gives 0.90; and a chunk first by keywords alone still outranks the vector ranking's seventh, so an
# exact name or code the vectors miss is not lost.
RRF_K = 10
VECTOR_WEIGHT = 0.6
_WORD = re.compile(r"\w+")
# Words too common to rank by (BM25's idf all but ignores them; dropping them keeps postings small).
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i if in into is it its me my no not of on "
    "or our she so such than that the their them then there these they this to was we were what when "
    "which who will with you your".split())


def keywords(text: str) -> list[str]:
    """The words of ``text`` a keyword search matches on: lower-cased, stopwords left out."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


# A keyword search scores every chunk that has any of its words: over 100k chunks of prose, a question's
# common words ("used", "value") match most of them, and scoring those cost 100-400 ms a query, where
# the words that decide the ranking (the rare ones: BM25 weighs a word by its rarity) match a few
# hundred. So a search asks how many chunks have each word, counting no further than this, and keeps
# the rarest words that together match at most this many (scoring 1000 chunks: ~3 ms on SQLite, ~9 ms
# on PostgreSQL, docs/performance.md).
KEYWORD_BUDGET = 1000


@dataclass(frozen=True, slots=True)
class KeywordPlan:
    """The words a keyword search matches on, and whether a chunk needs all of them (``every``) or any."""

    words: tuple[str, ...]
    every: bool = False


def keyword_plan(counts: dict[str, int], budget: int = KEYWORD_BUDGET) -> KeywordPlan:
    """The words to search on, given how many chunks have each (counted up to ``budget + 1`` at most):
    the rarest that together match at most ``budget`` chunks (a word no chunk has costs nothing and is
    kept); if even the rarest matches more, every word, all of them required (the chunks that have
    them all: fewer, and more to the point than those with one common word)."""
    if not counts:
        return KeywordPlan(())
    ranked = sorted(counts, key=lambda word: counts[word])  # stable: the query's order among equals
    if counts[ranked[0]] > budget:
        return KeywordPlan(tuple(counts), every=len(counts) > 1)
    kept, total = [], 0
    for word in ranked:
        total += counts[word]
        if total > budget:
            break
        kept.append(word)
    return KeywordPlan(tuple(word for word in counts if word in kept))


@dataclass(frozen=True, slots=True)
class IndexedChunk:
    """One piece of a file, as ingestion made it: its position in the file (``seq``, from 0), its text,
    its size in cl100k tokens, and its vector (None when the store has no embedder)."""

    seq: int
    text: str
    tokens: int
    vector: Sequence[float] | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for, and where.

    ``store_ids``: the stores searched together (a run's file_search searches the assistant's and the
    thread's). ``text``: the keyword query. ``vector``: the query's vector, of the stores' embedder
    (None: keyword only). ``limit``: at most this many hits. ``file_ids``: only chunks of these files
    (None: of every file), what core's evaluation of a search's ``filters`` left."""

    store_ids: tuple[str, ...]
    text: str
    vector: Sequence[float] | None
    limit: int
    file_ids: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One chunk found: where it is, its text, and its score, from 0 to 1, higher is better (what
    ``ranking_options.score_threshold`` compares with; :func:`fuse` makes it)."""

    store_id: str
    file_id: str
    seq: int
    text: str
    score: float


@runtime_checkable
class ChunkIndex(Protocol):
    """The chunks of every vector store of an App. Everything is async, and serves many concurrent
    calls; a chunk is keyed by ``(store_id, file_id, seq)``."""

    async def add(self, store_id: str, file_id: str, chunks: Sequence[IndexedChunk]) -> None:
        """Index ``chunks`` of a file of a store. A chunk already indexed under the same key is
        replaced, so an ingestion resumed after a crash may add the same chunks again. The vectors of
        one store all have the same length."""

    async def remove(self, store_id: str, file_id: str | None = None) -> None:
        """Forget the chunks of ``file_id`` in the store (None: of every file of the store)."""

    async def texts(self, store_id: str, file_id: str) -> list[str]:
        """The texts of a file's chunks in the store, in ``seq`` order (``[]`` if none): what the
        file's ``content`` endpoint shows."""

    async def search(self, query: SearchQuery) -> list[Hit]:
        """The best chunks for ``query``, best first, at most ``query.limit``: the keyword ranking and
        (with ``query.vector``) the vector ranking, fused (:func:`fuse` does it for indexes that rank
        each way apart). A query no chunk matches returns ``[]``."""

    async def close(self) -> None: ...


Key = TypeVar("Key", bound=Hashable)


def similarities(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Each row of ``matrix`` times ``vector`` (cosine similarities, both normalised), by numpy's own
    loop rather than BLAS (``matrix @ vector``): BLAS's threads, on a machine busy with other work,
    made one product over 100k × 256 numbers take 33 ms where this takes 8 (and 10 ms over 10k
    rows where this takes 1; docs/performance.md)."""
    import numpy as np

    return np.einsum("ij,j->i", matrix, vector)


def unit_vector(vector: Sequence[float] | None) -> np.ndarray | None:
    """``vector`` as float32 numbers of length 1 (what similarities compares), or None for none, all
    zeros or a non-finite one: such a chunk or query is ranked by words alone."""
    if vector is None:
        return None
    import numpy as np

    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm and np.isfinite(norm) else None


def best_rows(scores: np.ndarray, count: int, files: Sequence[str] | None = None,
              allowed: frozenset[str] | None = None) -> list[int]:
    """The positions of the ``count`` highest scores, best first, leaving out the rows whose file
    (``files[i]``) is not in ``allowed`` when it is given: one exact top-k for every index."""
    import numpy as np

    if allowed is not None and files is not None:
        scores = np.where([file in allowed for file in files], scores, -np.inf)
    count = min(count, len(scores))
    if count <= 0:
        return []
    best = np.argpartition(-scores, count - 1)[:count]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [int(i) for i in best if np.isfinite(scores[i])]


def candidates(limit: int) -> int:
    """How deep each ranking goes before fusion: as deep as the result (see RRF_K: deeper rankings let
    chunks both rank only fairly outrank either ranking's best)."""
    return limit


def fuse(*rankings: Sequence[Key], limit: int, k: int = RRF_K,
         weights: Sequence[float] | None = None) -> list[tuple[Key, float]]:
    """Reciprocal rank fusion: each key scores ``sum(weight / (k + rank))`` over the rankings it appears
    in (rank from 1; every weight 1 unless ``weights`` gives one per ranking), normalised by what a key
    first in every ranking would score, so scores lie in (0, 1]. The best ``limit`` keys, best first;
    ties keep the order of first appearance."""
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings and {len(weights)} weights")
    scores: dict[Key, float] = {}
    for weight, ranking in zip(weights, rankings, strict=True):
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    best = (sum(weights) or 1.0) / (k + 1)
    ranked = sorted(scores.items(), key=lambda item: -item[1])[:limit]
    return [(key, min(1.0, score / best)) for key, score in ranked]


def fuse_search(by_keyword: Sequence[Key], by_vector: Sequence[Key] | None, *,
                limit: int) -> list[tuple[Key, float]]:
    """A search's fusion: the keyword ranking alone, or with the vector ranking, weighted (RRF_K)."""
    if by_vector is None:
        return fuse(by_keyword, limit=limit)
    return fuse(by_keyword, by_vector, limit=limit, weights=(1 - VECTOR_WEIGHT, VECTOR_WEIGHT))


__all__ = ["KEYWORD_BUDGET", "RRF_K", "VECTOR_WEIGHT", "ChunkIndex", "Hit", "IndexedChunk", "KeywordPlan",
           "STOPWORDS", "SearchQuery", "best_rows", "candidates", "fuse", "fuse_search", "keyword_plan", "keywords",
           "similarities", "unit_vector"]
