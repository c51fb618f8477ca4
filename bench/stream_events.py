"""What publishing one run event costs, from the engine's ``_publish`` to the SSE bytes every
subscribed stream sends: the engine publishes a ``StreamEvent`` and the router frames it once
(``router.frame``), against the former path where the engine framed the bytes itself and put them on
every queue. Measured for 1 and 3 subscribers, on a ``thread.message.delta`` (the hot event).

    python bench/stream_events.py [--events 200000] [--rounds 5]

Prints the best round's µs per event, each path run in alternation.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from supercompat import App
from supercompat.router import frame, sse
from supercompat.scripted import scripted_client_adapter

DELTA = {"id": "msg_0123456789abcdefghijklmn", "object": "thread.message.delta",
         "delta": {"content": [{"index": 0, "type": "text", "text": {"value": " word"}}]}}


def now_path(engine: object, queues: list[asyncio.Queue[object]], n: int) -> float:
    publish = engine._publish  # type: ignore[attr-defined]
    start = time.perf_counter()
    for _ in range(n):
        publish("run_bench", "thread.message.delta", DELTA)
        for queue in queues:
            frame(queue.get_nowait())  # type: ignore[arg-type]
    return time.perf_counter() - start


def former_publish(subscribers: dict[str, list[asyncio.Queue[object]]], run_id: str, event: str,
                   data: object) -> None:
    """``RunEngine._publish`` as it was: the engine framed the bytes and queued them."""
    queues = subscribers.get(run_id)
    if queues:
        chunk = sse(event, data)
        for q in queues:
            q.put_nowait(chunk)


def former_path(queues: list[asyncio.Queue[object]], n: int) -> float:
    subscribers = {"run_bench": queues}
    start = time.perf_counter()
    for _ in range(n):
        former_publish(subscribers, "run_bench", "thread.message.delta", DELTA)
        for queue in queues:
            queue.get_nowait()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for subscribers in (1, 3):
        engine = App(client_adapter=scripted_client_adapter()).engine
        queues = [engine.subscribe("run_bench") for _ in range(subscribers)]
        spare: list[asyncio.Queue[object]] = [asyncio.Queue() for _ in range(subscribers)]
        best = {"now": float("inf"), "former": float("inf")}
        for _ in range(args.rounds):
            best["now"] = min(best["now"], now_path(engine, queues, args.events))
            best["former"] = min(best["former"], former_path(spare, args.events))
        per = {k: v / args.events * 1e6 for k, v in best.items()}
        print(f"{subscribers} subscriber(s): publish+frame {per['now']:.2f} µs/event "
              f"(engine framing, before: {per['former']:.2f} µs/event)")


if __name__ == "__main__":
    main()
