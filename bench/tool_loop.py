"""The engine's built-in tool loop: what a streamed run costs with and without built-in tool rounds.

    python bench/tool_loop.py [--storage memory|sqlite|postgresql] [--runs 200] [--lookups 2]

Each run is streamed to its end through the sync openai SDK with the scripted model: ``plain`` answers
with ten words; ``tools`` first calls the ``test_lookup`` tool ``--lookups`` times (one model turn
each), then answers with ten words citing the first lookup (so the annotator runs over the text). A
client whose App has the lookup tool but whose assistant doesn't use it (``plain_with_tools_app``)
shows what merely having built-in tools installed costs a plain run. Prints one JSON object: wall
and CPU milliseconds per run (median of five batches) for each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

from supercompat import supercompat
from supercompat.testing import Reply, scripted_client_adapter
from supercompat.testing.tools import TYPE, LookupTool, marker

from stores import stores  # bench/ is on sys.path: this runs as a script

TEXT = "one two three four five six seven eight nine ten"


def measure(client: object, assistant_id: str, script: object, runs: int) -> dict[str, float]:
    walls, cpus = [], []
    batch = max(1, runs // 5)
    for _ in range(5):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(batch):
            script()
            t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
            for _event in client.beta.threads.runs.create(thread_id=t.id, assistant_id=assistant_id, stream=True):
                pass
        walls.append((time.perf_counter() - w0) * 1000 / batch)
        cpus.append((time.process_time() - c0) * 1000 / batch)
    return {"wall_ms_per_run": round(statistics.median(walls), 2), "cpu_ms_per_run": round(statistics.median(cpus), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default="memory")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--lookups", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)
    results = {}
    with stores(args.storage) as made:
        for name, tools, uses_tool in [("plain", [], False), ("plain_with_tools_app", [LookupTool()], False),
                                       ("tools", [LookupTool()], True)]:
            provider = scripted_client_adapter()
            client = supercompat(client_adapter=provider, storage_adapter=made.fresh(), tools=tools, max_retries=0)
            a = client.beta.assistants.create(model="m", tools=[{"type": TYPE}] if uses_tool else [])

            def script(provider=provider, uses_tool=uses_tool) -> None:
                if uses_tool:
                    provider.script(*[Reply(tool_calls=[(TYPE, {"query": f"q{i}"})]) for i in range(args.lookups)])
                provider.script(Reply(text=f"{TEXT} {marker(0, 'q0')}" if uses_tool else TEXT))

            measure(client, a.id, script, 10)  # warm up
            results[name] = measure(client, a.id, script, args.runs)
    print(json.dumps({"storage": args.storage, "lookups": args.lookups, **results}))


if __name__ == "__main__":
    main()
