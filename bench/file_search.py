"""What a file_search run costs above its model calls and its search.

    python bench/file_search.py [--storage memory,sqlite] [--runs 200] [--write docs/performance.md]

A vector store holds Python's own documentation (the 79 ``pydoc_data.topics`` topics, one file each,
cut as ingestion cuts them: 800-token chunks, 400 overlapping), embedded with core's ``hashing``
embedder. Each run is streamed to its end through the sync openai SDK with the scripted model (whose
turns take no time): a first turn calls ``file_search`` with one query (a 12-word slice of the
documentation), a second answers with ten words citing the first result. Measured per run:

- ``run``: the whole streamed run, as the client sees it;
- ``search``: ``VectorStores.search`` alone, for the same query on the same store, in the same App;
- ``plain``: a streamed run whose scripted model answers at once with the same ten words;
- ``overhead``: ``run`` minus ``search`` minus ``plain``: what file_search adds to a run besides the
  search itself (the second model turn, the tool step, the replayed results in the second prompt,
  the annotator), each run paired with the median of the others.

Prints one JSON object per storage; ``--write`` replaces the ``file-search`` section of the page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import warnings
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from supercompat import supercompat  # noqa: E402
from supercompat.embedders import hashing_embedder  # noqa: E402
from supercompat.file_search import marker  # noqa: E402
from supercompat.loop import run_sync  # noqa: E402
from supercompat.testing import Reply, app_of, scripted_client_adapter  # noqa: E402

from report import host, pct, write_section  # noqa: E402
from stores import stores  # noqa: E402

TEXT = "one two three four five six seven eight nine ten"


def topics() -> dict[str, str]:
    import pydoc_data.topics

    return dict(sorted(pydoc_data.topics.topics.items()))


def queries(count: int) -> list[str]:
    words = " ".join(topics().values()).split()
    rng = random.Random(7)
    return [" ".join(words[start:start + 12]) for start in (rng.randrange(len(words) - 12) for _ in range(count))]


def streamed(client: Any, thread_id: str, assistant_id: str) -> float:
    start = time.perf_counter()
    for _event in client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id, stream=True):
        pass
    return (time.perf_counter() - start) * 1000


def measure(storage: str, runs: int) -> dict[str, Any]:
    with stores(storage) as made:
        provider = scripted_client_adapter()
        client = supercompat(client_adapter=provider, storage_adapter=made.fresh(),
                             embedder=hashing_embedder(256), max_retries=0)
        app = app_of(client)
        files = [client.files.create(file=(f"{name}.txt", text.encode()), purpose="assistants")
                 for name, text in topics().items()]
        store = client.vector_stores.create(name="pydoc")
        client.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=[f.id for f in files])
        searching = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}],
                                                  tool_resources={"file_search": {"vector_store_ids": [store.id]}})
        plain = client.beta.assistants.create(model="gpt-4o")
        stored = run_sync(app.storage.get_vector_store(store.id))
        samples: dict[str, list[float]] = {"run": [], "search": [], "plain": []}
        asked = queries(runs + 10)
        for i, query in enumerate(asked):
            thread = client.beta.threads.create(messages=[{"role": "user", "content": query}])
            provider.script(Reply(tool_calls=[("file_search", {"queries": [query]})]),
                            Reply(text=f"{TEXT} {marker(0, 0)}"))
            run = streamed(client, thread.id, searching.id)
            start = time.perf_counter()
            run_sync(app.vector_stores.search([stored], [query], limit=20, score_threshold=0.0, filters=None))
            search = (time.perf_counter() - start) * 1000
            provider.script(Reply(text=TEXT))
            other = client.beta.threads.create(messages=[{"role": "user", "content": query}])
            alone = streamed(client, other.id, plain.id)
            if i >= 10:  # the first ten warm up
                samples["run"].append(run)
                samples["search"].append(search)
                samples["plain"].append(alone)
        chunks = sum(len(run_sync(app.index.texts(store.id, f.id))) for f in files)
        client.close()
        run_sync(app.aclose(grace=0))
    search_p50, plain_p50 = statistics.median(samples["search"]), statistics.median(samples["plain"])
    overhead = [r - search_p50 - plain_p50 for r in samples["run"]]
    result: dict[str, Any] = {"storage": storage, "runs": runs, "files": len(files), "chunks": chunks}
    for name, values in [*samples.items(), ("overhead", overhead)]:
        result[name] = {"p50_ms": round(statistics.median(values), 2), "p90_ms": round(pct(values, 90), 2)}
    return result


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| storage | run p50 (p90) | search p50 (p90) | plain run p50 (p90) | overhead p50 (p90) |",
            "|---|---|---|---|---|"]
    for r in results:
        cells = [f"{r[k]['p50_ms']:.1f} ({r[k]['p90_ms']:.1f})" for k in ("run", "search", "plain", "overhead")]
        rows.append(f"| {r['storage']} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default="memory,sqlite")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--write", metavar="PAGE")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)
    results = [measure(storage, args.runs) for storage in args.storage.split(",")]
    for result in results:
        print(json.dumps(result))
    if args.write:
        load = os.getloadavg()[0]
        text = (f"`python bench/file_search.py --write {args.write}` — {args.runs} streamed runs per storage "
                f"through the sync openai SDK, the scripted model, the 79 pydoc topics in one store "
                f"(hashing embedder, 256 numbers); milliseconds. {host(f'{load:.1f} at the end')}.\n\n"
                + table(results))
        write_section(args.write, "file-search", text)


if __name__ == "__main__":
    main()
