"""Many runs at once on one in-process client, a fifth of them cancelled: does every run end?

    python bench/concurrency.py                          # 300 runs over 30 threads, SQLite
    python bench/concurrency.py --storage postgresql --runs 300 --workers 30 --cancel 0.2

Each worker thread has a conversation thread of its own and starts its runs there one after the
other: a streamed run (read to its end), a polled one (``create_and_poll``), or, for a ``--cancel``
share of them, a run cancelled 0-50 ms after it was created (the cancel lands before, during or
after the model's turn) or a streamed one cancelled at its first text delta (mid-turn). Every run
is then read until it is seen in a terminal status, for up to ``--wait`` seconds. The model is the
scripted one, answering ``--tokens`` words ``--token-ms`` apart.
Prints one JSON object: runs seen terminal (and the statuses), run latency from create to seen
terminal (p50/p95/max), the ``message_creation`` steps whose message is missing or still in
progress, the errors by kind, the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from supercompat import supercompat
from supercompat.runs.engine import TERMINAL
from supercompat.testing.cancels import PacedModel, dangling_steps

from stores import stores  # bench/ is on sys.path: this runs as a script


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def error_kind(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default="sqlite", help="memory, sqlite or postgresql")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--cancel", type=float, default=0.2, help="the share of runs cancelled")
    parser.add_argument("--tokens", type=int, default=10)
    parser.add_argument("--token-ms", type=float, default=2.0)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for a run to be seen terminal")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the SDK's note on the Assistants API

    plan_rng = random.Random(args.seed)
    kinds = [(("cancel_streamed" if i % 2 else "cancel") if plan_rng.random() < args.cancel
              else ("stream" if i % 2 else "poll")) for i in range(args.runs)]
    per_worker = [kinds[w::args.workers] for w in range(args.workers)]

    with stores(args.storage) as made:
        client = supercompat(client_adapter=PacedModel(args.tokens, args.token_ms / 1000),
                             storage_adapter=made.fresh(), max_retries=0)
        assistant = client.beta.assistants.create(model="bench")
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        never_terminal = not_created = 0
        started: list[tuple[str, str]] = []

        def seen_terminal(thread_id: str, run_id: str, t0: float) -> None:
            nonlocal never_terminal
            deadline = time.monotonic() + args.wait
            while True:
                try:
                    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
                    if run.status in TERMINAL:
                        latencies.append(time.perf_counter() - t0)
                        statuses[run.status] += 1
                        return
                except Exception as exc:
                    errors[error_kind(exc)] += 1
                if time.monotonic() > deadline:
                    never_terminal += 1
                    return
                time.sleep(0.05)

        def cancel(thread_id: str, run_id: str) -> None:
            try:
                client.beta.threads.runs.cancel(run_id, thread_id=thread_id)
            except Exception as exc:
                if "Cannot cancel" not in str(exc):  # it had ended already: fine
                    raise

        def worker(index: int) -> None:
            nonlocal not_created
            rng = random.Random(args.seed * 1000 + index)
            try:
                thread = client.beta.threads.create()
            except Exception as exc:
                errors[error_kind(exc)] += 1
                return
            for kind in per_worker[index]:
                t0 = time.perf_counter()
                run_id = None  # once the run exists, it must be seen ending, whatever fails after
                try:
                    client.beta.threads.messages.create(thread.id, role="user", content="hello")
                    if kind == "poll":
                        run_id = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                                          assistant_id=assistant.id).id
                    elif kind in ("stream", "cancel_streamed"):
                        with client.beta.threads.runs.stream(thread_id=thread.id,
                                                             assistant_id=assistant.id) as stream:
                            for event in stream:
                                if event.event == "thread.run.created":
                                    run_id = event.data.id
                                elif kind == "cancel_streamed" and event.event == "thread.message.delta":
                                    cancel(thread.id, run_id)
                                    break
                    else:
                        run_id = client.beta.threads.runs.create(thread_id=thread.id,
                                                                 assistant_id=assistant.id).id
                        time.sleep(rng.random() * 0.05)
                        cancel(thread.id, run_id)
                except Exception as exc:
                    errors[error_kind(exc)] += 1
                if run_id is None:
                    not_created += 1
                    continue
                started.append((thread.id, run_id))
                seen_terminal(thread.id, run_id, t0)

        load_before = os.getloadavg()[0]
        t_start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(worker, range(args.workers)))
        elapsed = time.perf_counter() - t_start
        dangling = dangling_steps(client, started)
        result = {
            "storage": args.storage, "runs": args.runs, "workers": args.workers, "cancel_share": args.cancel,
            "kinds": dict(Counter(kinds)), "seen_terminal": sum(statuses.values()),
            "never_seen_terminal": never_terminal, "not_created": not_created, "statuses": dict(statuses),
            "latency_s": {"p50": round(percentile(latencies, 0.5), 3), "p95": round(percentile(latencies, 0.95), 3),
                          "max": round(max(latencies, default=float("nan")), 3)},
            "dangling_steps": len(dangling), "errors": sum(errors.values()), "error_kinds": dict(errors.most_common(5)),
            "wall_s": round(elapsed, 1), "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
