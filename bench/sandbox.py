"""What a code_interpreter session costs in the bubblewrap sandbox, apart from the code it runs.

    python bench/sandbox.py [--python PATH] [--sessions 20] [--cells 200] [--write docs/performance.md]

Measured, in milliseconds:

- ``open``: a new session, until its REPL answers (bwrap's namespaces and mounts, the interpreter's
  start); ``--sessions`` of them, one after the other;
- ``cell``: a cell that does nothing (``x = 1``), as ``run`` returns it: writing the cell, the request
  and reply lines, reading the output back; ``--cells`` in one session;
- ``cell, echo``: a cell whose last expression is echoed (``x``);
- ``put + get``: a 1 KB file written to /mnt/data and read back;
- ``first import``: the first ``import numpy, pandas`` and ``import matplotlib.pyplot`` of a session
  (when ``--python`` has them): what a fresh session pays before its first chart;
- ``stop a busy cell``: ``while True: pass`` with a 0.2 s time limit, from the limit to the answer
  (interrupted, the session kept).

Prints one JSON object; ``--write`` replaces the ``sandbox`` section of the page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from supercompat.sandbox_bubblewrap import BubblewrapOptions, BubblewrapSandbox  # noqa: E402

from report import host, pct, write_section  # noqa: E402


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(samples), 2), "p95": round(pct(samples, 95), 2), "n": len(samples)}


async def timed(make: Any) -> float:
    start = time.perf_counter()
    await make()
    return (time.perf_counter() - start) * 1000


async def measure(python: str, sessions: int, cells: int) -> dict[str, Any]:
    sandbox = BubblewrapSandbox(BubblewrapOptions(python=python))
    result: dict[str, Any] = {"python": python}
    try:
        await (await sandbox.open()).close()  # the interpreter's prefixes are found once, on the first open
        opens = []
        for _ in range(sessions):
            start = time.perf_counter()
            session = await sandbox.open()
            opens.append((time.perf_counter() - start) * 1000)
            await session.close()
        result["open"] = summary(opens)
        session = await sandbox.open()
        await session.run("x = 1", timeout=30)
        result["cell"] = summary([await timed(lambda: session.run("x = 1", timeout=30)) for _ in range(cells)])
        result["cell, echo"] = summary([await timed(lambda: session.run("x", timeout=30)) for _ in range(cells)])
        data = os.urandom(1024)

        async def put_get() -> None:
            await session.put("bench.bin", data)
            assert await session.get("bench.bin") == data

        result["put + get"] = summary([await timed(put_get) for _ in range(cells)])
        busy = []
        for _ in range(5):
            start = time.perf_counter()
            execution = await session.run("while True:\n    pass", timeout=0.2)
            assert execution.timed_out and not execution.restarted
            busy.append((time.perf_counter() - start) * 1000 - 200)
        result["stop a busy cell"] = summary(busy)
        await session.close()
        imports: dict[str, list[float]] = {"import numpy, pandas": [], "import matplotlib.pyplot": []}
        for _ in range(3):
            session = await sandbox.open()
            for code in imports:
                start = time.perf_counter()
                execution = await session.run(code, timeout=120)
                if not execution.error:
                    imports[code].append((time.perf_counter() - start) * 1000)
            await session.close()
        for code, samples in imports.items():
            if samples:
                result[f"first {code}"] = summary(samples)
    finally:
        await sandbox.close()
    return result


def table(result: dict[str, Any]) -> str:
    rows = ["| step | p50, ms | p95, ms | samples |", "|---|---:|---:|---:|"]
    for name, value in result.items():
        if isinstance(value, dict):
            rows.append(f"| {name} | {value['p50']:.2f} | {value['p95']:.2f} | {value['n']} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter inside (a venv's, with "
                                                                    "numpy, pandas and matplotlib, measures "
                                                                    "their first import too)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--write", metavar="PAGE")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    result = asyncio.run(measure(args.python, args.sessions, args.cells))
    print(json.dumps(result))
    if args.write:
        after = os.getloadavg()[0]
        who = "as root (sessions dropped to uid 65534)" if os.geteuid() == 0 else "unprivileged"
        text = (f"`python bench/sandbox.py --python <a venv with numpy, pandas, matplotlib> --write "
                f"{args.write}` — the bubblewrap sandbox, {who}; "
                f"milliseconds. {host(f'{before:.1f} before and {after:.1f} after')} (the host's).\n\n"
                + table(result))
        write_section(args.write, "sandbox", text)


if __name__ == "__main__":
    main()
