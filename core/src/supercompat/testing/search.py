"""ChunkIndexTests: the behaviour every chunk index must have (``supercompat.search.ChunkIndex``), on
the deterministic fake embedder, so an index of a third party's vector database (Qdrant, say) is
checked by the same tests as core's memory index and the SQL one."""

from __future__ import annotations

import asyncio
import math

from ..search import KEYWORD_BUDGET, ChunkIndex, Hit, IndexedChunk, SearchQuery
from .embedders import fake_embedder
from .kit import Kit, fixture, mark

DIMENSIONS = 64
# Chunks on unrelated subjects: each one's own words find it first.
DOCUMENTS = [
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "Python asyncio runs coroutines concurrently on a single event loop.",
    "PostgreSQL full text search ranks documents with tsvector and tsquery.",
    "Sourdough bread needs flour, water, salt and a lively starter culture.",
    "The orbit of Mars takes about 687 Earth days around the Sun.",
    "Glaciers carve valleys as compacted ice slowly flows downhill.",
    "A violin concerto pairs a solo violinist with the full orchestra.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
]
UNICODE = ["Café crème brûlée au caramel", "日本語のテキストを検索する", "Ελληνικά κείμενα για αναζήτηση",
           "emoji 🚀 rockets launch skyward"]


class ChunkIndexTests(Kit, standard=True):
    """Subclass and provide an async fixture ``chunk_index`` yielding an empty index (its stores
    may be shared with other tests only if their ids are unique: the kit makes new ones each test)."""

    @fixture
    async def chunk_index(self) -> ChunkIndex:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide a `chunk_index` fixture yielding an empty index")

    # -- helpers ----------------------------------------------------------------------------------
    _counter = 0

    def store(self) -> str:
        """A store id no other test of this process uses (an index over a shared database keeps
        other tests' rows)."""
        ChunkIndexTests._counter += 1
        return f"vs_kit{id(self) % 100_000}x{ChunkIndexTests._counter}"

    @staticmethod
    async def chunks(texts: list[str], *, vectors: bool = True, first_seq: int = 0) -> list[IndexedChunk]:
        embedded = await fake_embedder(DIMENSIONS).embed(texts) if vectors else [None] * len(texts)
        return [IndexedChunk(first_seq + i, text, len(text.split()), vector)
                for i, (text, vector) in enumerate(zip(texts, embedded, strict=True))]

    @staticmethod
    async def query(store_ids: list[str], text: str, *, vector: bool = True, limit: int = 10,
                    file_ids: set[str] | None = None) -> SearchQuery:
        embedded = (await fake_embedder(DIMENSIONS).embed([text], kind="query"))[0] if vector else None
        return SearchQuery(tuple(store_ids), text, embedded, limit,
                           None if file_ids is None else frozenset(file_ids))

    @staticmethod
    def well_formed(hits: list[Hit], limit: int) -> None:
        assert len(hits) <= limit
        scores = [hit.score for hit in hits]
        assert all(0.0 < score <= 1.0 and math.isfinite(score) for score in scores), scores
        assert scores == sorted(scores, reverse=True), scores
        keys = [(hit.store_id, hit.file_id, hit.seq) for hit in hits]
        assert len(set(keys)) == len(keys), keys

    async def documents(self, index: ChunkIndex, *, vectors: bool = True) -> str:
        store_id = self.store()
        await index.add(store_id, "file_docs", await self.chunks(DOCUMENTS, vectors=vectors))
        return store_id

    # -- add, replace, remove, texts ------------------------------------------------------------
    def test_is_a_chunk_index(self, chunk_index: ChunkIndex) -> None:
        assert isinstance(chunk_index, ChunkIndex)

    async def test_texts_in_seq_order(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        chunks = await self.chunks(DOCUMENTS[:3])
        await chunk_index.add(store_id, "file_a", list(reversed(chunks)))
        assert await chunk_index.texts(store_id, "file_a") == DOCUMENTS[:3]
        assert await chunk_index.texts(store_id, "file_other") == []
        assert await chunk_index.texts(self.store(), "file_a") == []

    async def test_adding_the_same_chunks_again_replaces_them(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        await chunk_index.add(store_id, "file_a", await self.chunks(DOCUMENTS[:3]))
        await chunk_index.add(store_id, "file_a", await self.chunks(DOCUMENTS[:3]))  # an ingestion resumed
        assert await chunk_index.texts(store_id, "file_a") == DOCUMENTS[:3]
        hits = await chunk_index.search(await self.query([store_id], DOCUMENTS[1]))
        assert [hit.seq for hit in hits].count(1) == 1

    async def test_a_replaced_chunk_is_found_by_its_new_text_only(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        await chunk_index.add(store_id, "file_a", await self.chunks(DOCUMENTS[:2]))
        await chunk_index.add(store_id, "file_a", await self.chunks([DOCUMENTS[4]], first_seq=1))
        assert await chunk_index.texts(store_id, "file_a") == [DOCUMENTS[0], DOCUMENTS[4]]
        gone = await self.query([store_id], "asyncio coroutines", vector=False)
        assert await chunk_index.search(gone) == []
        hits = await chunk_index.search(await self.query([store_id], "orbit of Mars"))
        assert (hits[0].seq, hits[0].text) == (1, DOCUMENTS[4])

    async def test_remove_a_file(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        await chunk_index.add(store_id, "file_a", await self.chunks(DOCUMENTS[:2]))
        await chunk_index.add(store_id, "file_b", await self.chunks(DOCUMENTS[2:4]))
        await chunk_index.remove(store_id, "file_a")
        assert await chunk_index.texts(store_id, "file_a") == []
        assert await chunk_index.texts(store_id, "file_b") == DOCUMENTS[2:4]
        hits = await chunk_index.search(await self.query([store_id], DOCUMENTS[0]))
        assert {hit.file_id for hit in hits} == {"file_b"}

    async def test_remove_a_store(self, chunk_index: ChunkIndex) -> None:
        store_id, other = self.store(), self.store()
        await chunk_index.add(store_id, "file_a", await self.chunks(DOCUMENTS[:2]))
        await chunk_index.add(other, "file_a", await self.chunks(DOCUMENTS[:2]))
        await chunk_index.remove(store_id)
        assert await chunk_index.texts(store_id, "file_a") == []
        assert await chunk_index.search(await self.query([store_id], DOCUMENTS[0])) == []
        assert await chunk_index.texts(other, "file_a") == DOCUMENTS[:2]

    async def test_a_store_removed_and_filled_again_is_searched_afresh(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        await chunk_index.add(store_id, "file_a", await self.chunks(DOCUMENTS[:2]))
        assert (await chunk_index.search(await self.query([store_id], DOCUMENTS[0])))[0].seq == 0
        await chunk_index.remove(store_id)
        await chunk_index.add(store_id, "file_b", await self.chunks([DOCUMENTS[5]]))
        hits = await chunk_index.search(await self.query([store_id], DOCUMENTS[0]))
        assert {(hit.file_id, hit.text) for hit in hits} <= {("file_b", DOCUMENTS[5])}

    async def test_removing_what_is_not_there_is_no_error(self, chunk_index: ChunkIndex) -> None:
        await chunk_index.remove(self.store())
        await chunk_index.remove(self.store(), "file_nope")

    async def test_adding_nothing(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        await chunk_index.add(store_id, "file_a", [])
        assert await chunk_index.texts(store_id, "file_a") == []

    # -- ranking -----------------------------------------------------------------------------------
    async def test_keyword_only_finds_a_chunk_by_its_own_words_first(self, chunk_index: ChunkIndex) -> None:
        store_id = await self.documents(chunk_index, vectors=False)
        for seq, text in enumerate(DOCUMENTS):
            hits = await chunk_index.search(await self.query([store_id], text, vector=False, limit=3))
            self.well_formed(hits, 3)
            assert (hits[0].seq, hits[0].text, hits[0].file_id, hits[0].store_id) == (seq, text, "file_docs",
                                                                                     store_id)

    async def test_hybrid_finds_a_chunk_by_its_own_words_first(self, chunk_index: ChunkIndex) -> None:
        store_id = await self.documents(chunk_index)
        for seq, text in enumerate(DOCUMENTS):
            hits = await chunk_index.search(await self.query([store_id], text, limit=3))
            self.well_formed(hits, 3)
            assert hits[0].seq == seq and hits[0].text == text
            assert hits[0].score == 1.0  # first by words and by vector

    async def test_a_question_with_some_of_the_words(self, chunk_index: ChunkIndex) -> None:
        # Any word counts (OR): no chunk has every word of the question.
        store_id = await self.documents(chunk_index)
        for vector in (False, True):
            hits = await chunk_index.search(await self.query(
                [store_id], "which planet has an orbit longer than Earth days", vector=vector))
            assert hits[0].seq == 4

    async def test_common_words_give_way_to_rare_ones(self, chunk_index: ChunkIndex) -> None:
        # More chunks have "shared" and "banner" than a search scores (KEYWORD_BUDGET): the rare word
        # decides; a query of common words alone needs them all.
        store_id = self.store()
        common = [f"shared banner text {'abcdefghij'[i % 10]}{'klmnopqrst'[i // 10 % 10]}xyz"
                  for i in range(KEYWORD_BUDGET + 50)]
        await chunk_index.add(store_id, "file_common", await self.chunks(common, vectors=False))
        await chunk_index.add(store_id, "file_rare", await self.chunks(
            ["shared banner text with a zebra", "shared alone"], vectors=False))
        hits = await chunk_index.search(await self.query([store_id], "shared banner zebra", vector=False))
        assert (hits[0].file_id, hits[0].seq) == ("file_rare", 0)
        hits = await chunk_index.search(await self.query([store_id], "shared banner", vector=False, limit=50))
        self.well_formed(hits, 50)
        assert len(hits) == 50 and ("file_rare", 1) not in {(hit.file_id, hit.seq) for hit in hits}

    async def test_a_word_common_in_another_store_does_not_starve_a_small_one(self, chunk_index: ChunkIndex
                                                                               ) -> None:
        # A regression: the SQL index counted the query's words over every store, so words common in
        # another (big) store made the small store's search require them all, which found nothing.
        big, small = self.store(), self.store()
        common = [f"quokka zeppelin entry {i}" for i in range(KEYWORD_BUDGET + 50)]
        await chunk_index.add(big, "file_big", await self.chunks(common, vectors=False))
        await chunk_index.add(small, "file_small", await self.chunks(["a lone quokka grazes"], vectors=False))
        hits = await chunk_index.search(await self.query([small], "quokka zeppelin", vector=False))
        assert [(hit.store_id, hit.file_id) for hit in hits] == [(small, "file_small")]

    async def test_only_the_files_asked_for_however_many(self, chunk_index: ChunkIndex) -> None:
        # What a filter over a store of 40,000 files passes: more files than a database takes bound
        # values in one statement (PostgreSQL's driver 32,767, SQLite 32,766).
        store_id = self.store()
        await chunk_index.add(store_id, "file_kept", await self.chunks([DOCUMENTS[2]]))
        await chunk_index.add(store_id, "file_left", await self.chunks([DOCUMENTS[2]]))
        allowed = {f"file_{i:05}" for i in range(40_000)} | {"file_kept"}
        for vector in (False, True):
            hits = await chunk_index.search(await self.query([store_id], DOCUMENTS[2], vector=vector,
                                                             file_ids=allowed))
            assert [hit.file_id for hit in hits] == ["file_kept"]

    @mark.parametrize("text", ['"quoted" fox\'s OR AND NOT NEAR(dog) * ^ - + ~ < > @ : ( )',
                               "__init__ fox", "___", "_", "x" * 300, "fox; DROP TABLE chunks; --"])
    async def test_query_syntax_is_only_words(self, chunk_index: ChunkIndex, text: str) -> None:
        # Full-text engines have their own query syntax; a query's text is words all the same.
        store_id = self.store()
        await chunk_index.add(store_id, "file_a", await self.chunks(
            ["the __init__ method of a fox", "other text"], vectors=False))
        hits = await chunk_index.search(await self.query([store_id], text, vector=False))
        self.well_formed(hits, 10)
        assert [hit.seq for hit in hits] == ([0] if "fox" in text else [])

    async def test_words_match_whatever_their_case(self, chunk_index: ChunkIndex) -> None:
        store_id = await self.documents(chunk_index, vectors=False)
        hits = await chunk_index.search(await self.query([store_id], "POSTGRESQL TSVECTOR", vector=False))
        assert hits[0].seq == 2

    async def test_vectors_alone_find_what_words_do_not(self, chunk_index: ChunkIndex) -> None:
        # Stopwords only: no keyword ranking, so the vector ranking decides (the hashing embedder
        # hashes every word, stopwords included).
        store_id = self.store()
        await chunk_index.add(store_id, "file_a", await self.chunks(["it is what it is", DOCUMENTS[0]]))
        hits = await chunk_index.search(await self.query([store_id], "what it is"))
        self.well_formed(hits, 10)
        assert hits and hits[0].seq == 0

    async def test_limit(self, chunk_index: ChunkIndex) -> None:
        store_id = await self.documents(chunk_index)
        for limit in (1, 2, 5, 50):
            query = await self.query([store_id], "water sunlight flour orbit", limit=limit)
            hits = await chunk_index.search(query)
            self.well_formed(hits, limit)
            assert len(hits) == min(limit, len(DOCUMENTS))  # every chunk has a vector: all are ranked

    async def test_nothing_found(self, chunk_index: ChunkIndex) -> None:
        store_id = await self.documents(chunk_index, vectors=False)
        unknown = await self.query([store_id], "xylophone zeppelin", vector=False)
        assert await chunk_index.search(unknown) == []
        assert await chunk_index.search(await self.query([store_id], "", vector=False)) == []
        assert await chunk_index.search(await self.query([self.store()], "fox")) == []
        assert await chunk_index.search(await self.query([], "fox")) == []

    async def test_a_query_vector_of_another_length_searches_by_words(self, chunk_index: ChunkIndex) -> None:
        store_id = await self.documents(chunk_index)
        vector = (await fake_embedder(DIMENSIONS * 2).embed(["orbit of Mars"], kind="query"))[0]
        hits = await chunk_index.search(SearchQuery((store_id,), "orbit of Mars", vector, 5))
        self.well_formed(hits, 5)
        assert hits[0].seq == 4

    async def test_unicode(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        await chunk_index.add(store_id, "file_u", await self.chunks(UNICODE))
        assert await chunk_index.texts(store_id, "file_u") == UNICODE
        for seq, text in enumerate(UNICODE):
            hits = await chunk_index.search(await self.query([store_id], text, limit=2))
            assert hits[0].seq == seq and hits[0].text == text
        hits = await chunk_index.search(await self.query([store_id], "brûlée caramel", vector=False))
        assert hits[0].seq == 0

    # -- where ------------------------------------------------------------------------------------
    async def test_only_the_stores_asked_for(self, chunk_index: ChunkIndex) -> None:
        first, second, third = self.store(), self.store(), self.store()
        await chunk_index.add(first, "file_a", await self.chunks(DOCUMENTS[:4]))
        await chunk_index.add(second, "file_b", await self.chunks(DOCUMENTS[4:]))
        await chunk_index.add(third, "file_c", await self.chunks(DOCUMENTS))
        hits = await chunk_index.search(await self.query([first], DOCUMENTS[5]))
        assert hits and {hit.store_id for hit in hits} == {first}
        hits = await chunk_index.search(await self.query([first, second], DOCUMENTS[5], limit=20))
        self.well_formed(hits, 20)
        assert {hit.store_id for hit in hits} == {first, second}
        assert (hits[0].store_id, hits[0].seq) == (second, 1)
        hits = await chunk_index.search(await self.query([first, first], DOCUMENTS[0], limit=20))
        assert len(hits) == 4  # a store named twice is searched once

    async def test_only_the_files_asked_for(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        for i, text in enumerate(DOCUMENTS):
            await chunk_index.add(store_id, f"file_{i}", await self.chunks([text]))
        for vector in (False, True):
            hits = await chunk_index.search(await self.query([store_id], DOCUMENTS[3] + " " + DOCUMENTS[6],
                                                             vector=vector, file_ids={"file_6", "file_7"}))
            assert hits and {hit.file_id for hit in hits} <= {"file_6", "file_7"}
            assert hits[0].file_id == "file_6"
        assert await chunk_index.search(await self.query([store_id], DOCUMENTS[3], file_ids=set())) == []

    async def test_many_stores(self, chunk_index: ChunkIndex) -> None:
        stores = [self.store() for _ in range(30)]
        for i, store_id in enumerate(stores):
            await chunk_index.add(store_id, "file_a", await self.chunks([DOCUMENTS[i % len(DOCUMENTS)]]))
        hits = await chunk_index.search(await self.query(stores, DOCUMENTS[2], limit=50))
        self.well_formed(hits, 50)
        assert hits[0].text == DOCUMENTS[2]
        by_words = {hit.store_id for hit in hits if hit.text == DOCUMENTS[2]}
        assert by_words == {s for i, s in enumerate(stores) if i % len(DOCUMENTS) == 2}

    # -- concurrency ---------------------------------------------------------------------------------
    async def test_concurrent_adds_to_one_store(self, chunk_index: ChunkIndex) -> None:
        store_id = self.store()
        files = [f"file_{i}" for i in range(12)]

        async def add(i: int, file_id: str) -> None:
            await chunk_index.add(store_id, file_id, await self.chunks(
                [DOCUMENTS[i % len(DOCUMENTS)], f"chunk two of {file_id}"]))

        await asyncio.gather(*(add(i, f) for i, f in enumerate(files)))
        for i, file_id in enumerate(files):
            assert await chunk_index.texts(store_id, file_id) == [DOCUMENTS[i % len(DOCUMENTS)],
                                                                  f"chunk two of {file_id}"]
        hits = await chunk_index.search(await self.query([store_id], DOCUMENTS[1], limit=50))
        assert {hit.file_id for hit in hits if hit.text == DOCUMENTS[1]} == {"file_1", "file_9"}

    async def test_searches_while_adding(self, chunk_index: ChunkIndex) -> None:
        store_id = await self.documents(chunk_index)
        names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]

        async def add(i: int) -> None:
            chunks = await self.chunks([f"more text called {names[i]}"])
            await chunk_index.add(store_id, f"file_more{i}", chunks)

        async def search() -> list[Hit]:
            return await chunk_index.search(await self.query([store_id], DOCUMENTS[3]))

        searches = [search() for _ in range(8)]
        results = await asyncio.gather(*(add(i) for i in range(8)), *searches)
        for found in results[8:]:
            assert found is not None and found[0].text == DOCUMENTS[3]
        hits = await chunk_index.search(await self.query([store_id], "more text called foxtrot"))
        assert hits[0].file_id == "file_more5"


__all__ = ["ChunkIndexTests", "DIMENSIONS", "DOCUMENTS"]
