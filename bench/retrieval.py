"""Retrieval quality and ingestion throughput of each embedder, offline, through the real search path.

The documents are the topics of Python's own reference help (``pydoc_data.topics``, in every
CPython), each topic one file, cut by ``supercompat.ingest.chunk`` as a vector store cuts files (800
tokens with 400 of overlap, OpenAI's ``auto``; ``--chunking`` adds others). The questions are
``retrieval_questions.json`` beside this file: written for this benchmark in other words than the
reference's, each with the topic(s) that answer it.

Each embedder's chunks go into the memory chunk index (``supercompat.search_memory``), and every
question is searched three ways, as a vector store search does: keyword only (BM25, no vector),
vector only (no keywords) and hybrid (both, fused by ``supercompat.search.fuse``). Metrics, over the
questions: recall@1 and recall@5 (a chunk that answers among the first k: one of a target topic, or
one of another topic that holds a target's text, see ``answering_chunks``) and MRR@10 (1 / the rank
of the first such chunk, 0 past 10). Ingestion: chunks per second for chunk + embed + index,
wall and CPU time (the CPU of every thread of the process, model threads included).

    python bench/retrieval.py [--embedders hashing,minilm,wordllama] [--chunking 800/400,400/200]
                              [--fusion] [--write docs/performance.md]

``minilm`` and ``wordllama`` are the ``local`` embedder's models (supercompat-local, wordllama
through its extra). ``--fusion`` also scores other fusions of the same two rankings (other RRF
constants, a weighted fusion), for comparison with what search does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
import supercompat.search_memory  # noqa: E402
from supercompat import search  # noqa: E402
from supercompat.ingest import chunk  # noqa: E402
from supercompat.search import IndexedChunk, SearchQuery, fuse  # noqa: E402
from supercompat.search_memory import MemoryChunkIndex  # noqa: E402

from report import write_section  # noqa: E402

STORE = "vs_pydoc_topics"
MODES = ("keyword", "vector", "hybrid")
WEIGHTED = "RRF k=60, vector weight 0.7"  # the fusion the keyword variants are also scored with
DEPTH = 50  # of each ranking, for --fusion (what the memory index itself fuses at a limit of 10)

# For --keywords: other tokenisations for BM25, to weigh against supercompat.search.keywords (the
# memory index's, replaced for the run). More stopwords: the words questions are made of.
MORE_STOPWORDS = search.STOPWORDS | frozenset(
    "about after again all also am any because been before being both can could did do does doing done "
    "down each few get gets got had having here how just like make makes may might more most much must "
    "need new now off once one only other out over own same should some still then there those through "
    "too under until up very via want way well where whether while why would".split())
_WORD = re.compile(r"\w+")


def stem(word: str) -> str:
    """A crude suffix stripper (plurals, -ing, -ed, -ly), enough to see whether stemming would help."""
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("ly", ""), ("es", ""),
                                ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[:-len(suffix)] + replacement
    return word


KEYWORDS = {
    "as search does": search.keywords,
    "more stopwords": lambda text: [w for w in _WORD.findall(text.lower()) if w not in MORE_STOPWORDS],
    "more stopwords, stemmed": lambda text: [stem(w) for w in _WORD.findall(text.lower())
                                             if w not in MORE_STOPWORDS],
    "words split at _, more stopwords, stemmed": lambda text: [
        stem(w) for w in re.findall(r"[^\W_]+", text.lower()) if w not in MORE_STOPWORDS],
}


def questions() -> list[tuple[str, frozenset[str]]]:
    with open(os.path.join(os.path.dirname(__file__), "retrieval_questions.json")) as f:
        return [(text, frozenset(topics)) for text, topics in json.load(f)["questions"]]


def make_embedder(name: str) -> Any:
    if name == "hashing":
        from supercompat.embedders import hashing_embedder

        return hashing_embedder()
    from supercompat_local import local_embedder

    return local_embedder(name)


@dataclass
class Scores:
    ranks: list[int | None] = field(default_factory=list)  # of the first relevant hit, from 1

    def add(self, hits: Sequence[tuple[str, int]], relevant: frozenset[tuple[str, int]]) -> None:
        self.ranks.append(next((i for i, key in enumerate(hits, 1) if key in relevant), None))

    def recall(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks)

    def mrr(self, k: int = 10) -> float:
        return sum(1 / r for r in self.ranks if r is not None and r <= k) / len(self.ranks)

    def row(self) -> str:
        return f"{self.recall(1):.3f} | {self.recall(5):.3f} | {self.mrr():.3f}"


async def ingest(embedder: Any, size: int, overlap: int) -> tuple[MemoryChunkIndex, dict[str, float]]:
    from pydoc_data.topics import topics

    chunk("warm up: the tokenizer is loaded before timing")
    if embedder is not None:
        await embedder.embed(["warm up: the model is loaded before timing"])
    index = MemoryChunkIndex()
    wall, cpu = time.perf_counter(), time.process_time()
    count = tokens = 0
    for topic, text in sorted(topics.items()):
        chunks = chunk(text, size, overlap)
        vectors: Sequence[Sequence[float] | None] = (
            await embedder.embed([c.text for c in chunks]) if embedder is not None else [None] * len(chunks))
        await index.add(STORE, topic, [IndexedChunk(seq, c.text, c.tokens, vector)
                                       for seq, (c, vector) in enumerate(zip(chunks, vectors, strict=True))])
        count += len(chunks)
        tokens += sum(c.tokens for c in chunks)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return index, {"chunks": count, "tokens": tokens, "wall_s": wall, "cpu_s": cpu,
                   "chunks_per_s": count / wall, "cpu_ms_per_chunk": 1000 * cpu / count}


async def answering_chunks(index: MemoryChunkIndex, by_topic: bool = False) -> Any:
    """``relevant(targets)``: the chunks that answer a question of these target topics, as (topic, seq).

    Python's reference repeats itself in pydoc's topics: "compound" holds the sections that are also
    the topics "if", "while", "try", "with"...; "specialnames" holds "customization", "numeric-types"...
    A chunk of such a topic that holds a target's text answers the question as well as the target's own
    chunks: it counts when it shares two of the target's lines (of 40 characters or more), unless
    ``by_topic`` (--by-topic: only the target topics' own chunks count)."""
    from pydoc_data.topics import topics

    def lines(text: str) -> set[str]:
        return {line for line in (" ".join(raw.split()) for raw in text.splitlines()) if len(line) >= 40}

    chunk_lines = {(topic, seq): lines(text) for topic in topics
                   for seq, text in enumerate(await index.texts(STORE, topic))}
    cache: dict[frozenset[str], frozenset[tuple[str, int]]] = {}

    def relevant(targets: frozenset[str]) -> frozenset[tuple[str, int]]:
        if targets not in cache:
            wanted = [lines(topics[target]) for target in targets]
            cache[targets] = frozenset(key for key, held in chunk_lines.items()
                                       if key[0] in targets
                                       or not by_topic and any(len(held & w) >= 2 for w in wanted))
        return cache[targets]

    return relevant


async def evaluate(embedder: Any, size: int, overlap: int, fusion: bool,
                   by_topic: bool = False) -> dict[str, Any]:
    index, throughput = await ingest(embedder, size, overlap)
    relevant = await answering_chunks(index, by_topic)
    scores = {mode: Scores() for mode in MODES}
    extra: dict[str, Scores] = {}
    embed_ms: list[float] = []
    search_ms: list[float] = []
    for text, targets in questions():
        vector = None
        if embedder is not None:
            start = time.perf_counter()
            [vector] = await embedder.embed([text], kind="query")
            embed_ms.append(1000 * (time.perf_counter() - start))
        for mode in MODES if vector is not None else ("keyword",):
            query = SearchQuery((STORE,), "" if mode == "vector" else text,
                                None if mode == "keyword" else vector, limit=10)
            start = time.perf_counter()
            hits = await index.search(query)
            if mode == "hybrid":
                search_ms.append(1000 * (time.perf_counter() - start))
            scores[mode].add([(hit.file_id, hit.seq) for hit in hits], relevant(targets))
        if fusion and vector is not None:
            by_keyword = await index.search(SearchQuery((STORE,), text, None, limit=DEPTH))
            by_vector = await index.search(SearchQuery((STORE,), "", vector, limit=DEPTH))
            rankings = [[(h.file_id, h.seq) for h in by_keyword], [(h.file_id, h.seq) for h in by_vector]]
            for label, ranked in fusions(rankings, by_keyword, by_vector).items():
                extra.setdefault(label, Scores()).add(ranked, relevant(targets))
    result: dict[str, Any] = {"throughput": throughput, "scores": scores, "fusions": extra}
    if embed_ms:
        result["query_embed_ms_p50"] = statistics.median(embed_ms)
        result["hybrid_search_ms_p50"] = statistics.median(search_ms)
    return result


def fusions(rankings: list[list[tuple[str, int]]], by_keyword: Any, by_vector: Any) -> dict[str, list[Any]]:
    """Other ways to fuse the same two rankings, best 10 each."""
    out: dict[str, list[Any]] = {}
    for k in (1, 10, 30, 60):
        out[f"RRF k={k}"] = [key for key, _ in fuse(*rankings, limit=10, k=k)]
    for weight in (0.5, 0.7):
        # vector weight w: w / (k + rank) for the vector ranking, (1 - w) / (k + rank) for BM25, k = 60
        scores: dict[Any, float] = {}
        for w, ranking in ((1 - weight, rankings[0]), (weight, rankings[1])):
            for rank, key in enumerate(ranking, 1):
                scores[key] = scores.get(key, 0.0) + w / (60 + rank)
        out[f"{WEIGHTED[:-3]}{weight}"] = sorted(scores, key=lambda key: -scores[key])[:10]
    return out


async def keyword_variants(names: list[str], chunking: str) -> str:
    """Keyword and hybrid scores with each tokenisation of KEYWORDS in the memory index's place."""
    size, overlap = (int(x) for x in chunking.split("/"))
    lines = ["", f"BM25 with other tokenisations ({chunking} chunks; R@1 / R@5 / MRR@10):", "",
             "| tokenisation | keyword | " + " | ".join(f"hybrid, {name}" for name in names) + " | "
             + " | ".join(f"{name}, {WEIGHTED}" for name in names) + " |",
             "|---|---|" + "---|" * 2 * len(names)]
    original = supercompat.search_memory.keywords
    try:
        for label, tokenise in KEYWORDS.items():
            supercompat.search_memory.keywords = tokenise  # type: ignore[assignment]
            cells, weighted = [], []
            for name in names:
                embedder = make_embedder(name)
                result = await evaluate(embedder, size, overlap, fusion=True)
                await embedder.close()
                if not cells:
                    cells.append(result["scores"]["keyword"].row().replace(" | ", " / "))
                cells.append(result["scores"]["hybrid"].row().replace(" | ", " / "))
                weighted.append(result["fusions"][WEIGHTED].row().replace(" | ", " / "))
            lines.append(f"| {label} | " + " | ".join(cells + weighted) + " |")
            print(f"keywords {label}: done", file=sys.stderr)
    finally:
        supercompat.search_memory.keywords = original
    return "\n".join(lines) + "\n"


def machine() -> str:
    cpus = os.cpu_count()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    load = f", 1-minute load average {os.getloadavg()[0]:.1f} at the end" if hasattr(os, "getloadavg") else ""
    return (f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{cpus} CPUs{f' ({model})' if model else ''}{load}")


def report(results: dict[tuple[str, str], dict[str, Any]], count: int) -> str:
    lines = [f"`python bench/retrieval.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`: {count} questions; "
             f"recall@1 / recall@5 / MRR@10 (higher is better). {machine()}.", ""]
    lines += ["| chunks | embedder | keyword R@1 | R@5 | MRR | vector R@1 | R@5 | MRR | hybrid R@1 | R@5 | MRR |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (chunking, name), result in results.items():
        scores = result["scores"]
        cells = [scores["keyword"].row()] + [scores[m].row() if scores[m].ranks else "– | – | –"
                                             for m in ("vector", "hybrid")]
        lines.append(f"| {chunking} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "| chunks | embedder | chunks | chunks/s (chunk + embed + index) | CPU ms / chunk | "
              "query embed p50 | hybrid search p50 |", "|---|---|---|---|---|---|---|"]
    for (chunking, name), result in results.items():
        t = result["throughput"]
        query = (f"{result['query_embed_ms_p50']:.2f} ms | {result['hybrid_search_ms_p50']:.2f} ms"
                 if "query_embed_ms_p50" in result else "– | –")
        lines.append(f"| {chunking} | {name} | {t['chunks']} | {t['chunks_per_s']:,.0f} | "
                     f"{t['cpu_ms_per_chunk']:.1f} | {query} |")
    fused = [(key, result["fusions"]) for key, result in results.items() if result["fusions"]]
    if fused:
        lines += ["", "Other fusions of the same keyword and vector rankings (hybrid R@1 / R@5 / MRR@10):", ""]
        labels = list(fused[0][1])
        lines += ["| chunks | embedder | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
        for (chunking, name), extra in fused:
            lines.append(f"| {chunking} | {name} | " + " | ".join(extra[label].row().replace(" | ", " / ")
                                                               for label in labels) + " |")
    return "\n".join(lines) + "\n"


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="hashing,minilm,wordllama")
    parser.add_argument("--chunking", default="800/400", help="size/overlap in tokens, comma-separated")
    parser.add_argument("--fusion", action="store_true", help="also score other fusions")
    parser.add_argument("--by-topic", action="store_true",
                        help="count only the target topics' own chunks as answers")
    parser.add_argument("--keywords", action="store_true",
                        help="also score other tokenisations for BM25 (keyword and hybrid)")
    parser.add_argument("--write", help="replace the retrieval section of this Markdown file")
    parser.add_argument("--json", help="write the raw numbers here")
    args = parser.parse_args(argv)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for chunking in args.chunking.split(","):
        size, overlap = (int(x) for x in chunking.split("/"))
        for name in args.embedders.split(","):
            embedder = make_embedder(name)
            results[(chunking, name)] = await evaluate(embedder, size, overlap, args.fusion, args.by_topic)
            await embedder.close()
            print(f"{chunking} {name}: done", file=sys.stderr)
    text = report(results, len(questions()))
    if args.keywords:
        text += await keyword_variants(args.embedders.split(","), args.chunking.split(",")[0])
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{c} {n}": {"throughput": r["throughput"],
                                    **{m: {"ranks": s.ranks} for m, s in r["scores"].items()}}
                       for (c, n), r in results.items()}, f, indent=1)
    if args.write:
        write_section(args.write, "retrieval", text)


if __name__ == "__main__":
    asyncio.run(main())
