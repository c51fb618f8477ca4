"""What the lease machinery costs a process: one heartbeat (renewing the leases of the runs it
executes) and one sweep that finds nothing lapsed (the usual case), timed on a store holding
``--runs`` executing runs.

    python bench/leases.py [--storage memory|sqlite|postgresql] [--runs 20] [--repeat 200] [--out f.json]

Prints (and writes) the p50 / p90 of each call in ms. Runs against a version without
``renew_leases`` too (``touch_runs`` / ``list_orphaned_runs`` then), for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from supercompat import loop as _loop
from supercompat.ids import new_id

from stores import stores


async def _executing_runs(storage: Any, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        now = int(time.time())
        thread = {"id": new_id("thread"), "object": "thread", "created_at": now, "metadata": {},
                  "tool_resources": {}}
        await storage.create_thread(thread, [])
        run = {"id": new_id("run"), "object": "thread.run", "created_at": now, "assistant_id": "asst_x",
               "thread_id": thread["id"], "status": "in_progress", "model": "m", "tools": [], "metadata": {}}
        ids.append((await storage.create_run(run, []))["id"])
    return ids


def _calls(storage: Any, run_ids: list[str]) -> dict[str, Any]:
    silent_since = time.time() - 30  # every run renewed just now: nothing has lapsed
    if hasattr(storage, "renew_leases"):
        return {"heartbeat": lambda: storage.renew_leases("run", run_ids),
                "empty_sweep": lambda: storage.claim_lapsed("run", silent_since)}
    return {"heartbeat": lambda: storage.touch_runs(run_ids),
            "empty_sweep": lambda: storage.list_orphaned_runs(silent_since)}


async def _timed(call: Any, repeat: int) -> list[float]:
    await call()  # warm: connections opened, statements compiled
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default="sqlite")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--out")
    args = parser.parse_args()
    result: dict[str, Any] = {"storage": args.storage, "runs": args.runs, "repeat": args.repeat}
    with stores(args.storage) as made:
        storage = made.fresh()
        run_ids = _loop.run_sync(_executing_runs(storage, args.runs))
        for name, call in _calls(storage, run_ids).items():
            times = _loop.run_sync(_timed(call, args.repeat))
            cuts = statistics.quantiles(times, n=10)
            result[name] = {"p50_ms": round(statistics.median(times), 3), "p90_ms": round(cuts[8], 3)}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
