"""Every benchmark, several rounds each, then docs/performance.md.

    python bench/run_all.py [--rounds 3] [--storages memory,sqlite,postgresql] [--scale 1.0]
                            [--write docs/performance.md] [--keep results-dir]

Each round is a process of its own (``workloads.py``, with its own fake provider), so rounds don't
share warm caches or memory peaks. Memory storage runs with the sync and the async client; the SQL
stores with the sync one (their async figures differ only by the client's own cost, which memory
shows). Then ``list_scaling.py`` once per storage. The page's generated section is replaced; the
hand-written parts around it stay.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import report

HERE = os.path.dirname(os.path.abspath(__file__))


def run(script: str, *args: str, out: str) -> None:
    print(f"$ {script} {' '.join(args)}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, os.path.join(HERE, script), *args, "--out", out], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--storages", default="memory,sqlite,postgresql")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--write", default=os.path.join(HERE, "..", "docs", "performance.md"))
    parser.add_argument("--keep", help="a folder to keep every round's JSON in")
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="bench-")
    os.makedirs(folder, exist_ok=True)
    started = time.time()
    columns: list[tuple[str, list[dict]]] = []
    scaling: list[dict] = []
    paced: list[dict] = []
    for storage in args.storages.split(","):
        for client in ("sync", "async") if storage == "memory" else ("sync",):
            rounds = []
            for r in range(args.rounds):
                out = os.path.join(folder, f"{storage}-{client}-round{r}.json")
                run("workloads.py", "--storage", storage, "--client", client, "--scale", str(args.scale), out=out)
                rounds.append(json.load(open(out)))
            columns.append((f"{storage}, {client}", rounds))
        if storage == "memory":
            # TTFT again with the provider pacing its tokens (1 ms apart), as any real model does.
            for r in range(args.rounds):
                out = os.path.join(folder, f"memory-sync-paced-round{r}.json")
                run("workloads.py", "--workloads", "stream_ttft", "--token-delay-ms", "1", out=out)
                paced.append(json.load(open(out)))
        out = os.path.join(folder, f"{storage}-list-scaling.json")
        run("list_scaling.py", "--storage", storage, out=out)
        scaling += json.load(open(out))
    by_name = dict(columns)
    sync, asynchronous = by_name.get("memory, sync", []), by_name.get("memory, async", [])
    text = "\n".join([
        "## Results",
        "",
        f"`python bench/run_all.py` ({args.rounds} rounds of every workload per column, "
        f"{(time.time() - started) / 60:.0f} minutes); {report.machine(sync or columns[0][1])}. "
        "Loopback fake OpenAI provider in its own process (`--latency-ms 0 --tokens 20`); "
        "reference: TypeScript Supercompat 4.2.3 on a 2-core machine like ours.",
        "",
        "### Targets",
        "",
        report.targets_table(sync, asynchronous, scaling, paced),
        "### Overhead above the SDK floor (memory storage, sync client)",
        "",
        "The floor is the openai SDK answered by an `httpx2.MockTransport` that returns, at once, bytes "
        "captured from supercompat (the same objects). It is what the SDK alone costs; nothing in process "
        "goes under it.",
        "",
        report.floor_table(sync),
        "Time to first token, split: what the SDK itself costs before the first text delta of a run "
        "(it parses the run, step and message events that come first) against a raw chat stream, "
        "with canned bytes, and on the provider sending its 20 tokens at once (the reference setting) or "
        "1 ms apart (`workloads.py --token-delay-ms 1`, stream_ttft only, same rounds).",
        "",
        report.ttft_breakdown(sync, paced),
        "### CPU budget of the concurrent workload (memory storage, async client)",
        "",
        report.concurrency_budget(asynchronous or sync),
        "### Every workload, side by side (storage × client)",
        "",
        "Ratios (·) are to the first column. The concurrent workload runs 50 `create_and_poll` with "
        "`asyncio.gather` on the async client, on a 50-thread pool with the sync one.",
        "",
        report.side_by_side(columns),
        "### `messages.list(limit=20)` as a thread grows",
        "",
        "`bench/list_scaling.py`: threads filled by one bulk insert through the storage, 200 timed calls "
        "per size through `openai.OpenAI`.",
        "",
        report.scaling_table(scaling),
    ])
    print(text)
    report.write_section(args.write, "results", text)
    print(f"rounds kept in {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
