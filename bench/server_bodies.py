"""Memory of `supercompat serve` under large request bodies: its RSS before, at peak and after
N parallel bodies of SIZE MiB (POST /v1/assistants, refused after parsing, so nothing is stored).

    python bench/server_bodies.py [--bodies 8] [--mib 15]

Linux only (reads /proc). Needs supercompat[server]."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from server_load import API_KEY, running_server  # noqa: E402


def memory_mib(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    return {key: int(re.search(key + r":\s+(\d+)", status).group(1)) // 1024 for key in ("VmRSS", "VmHWM")}


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {API_KEY}",
                                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bodies", type=int, default=8)
    parser.add_argument("--mib", type=float, default=15)
    args = parser.parse_args()
    body = json.dumps({"model": "m", "instructions": "x" * int(args.mib * 2**20 - 100)}).encode()
    with running_server() as (base_url, _, pid):
        time.sleep(0.5)
        before = memory_mib(pid)
        with concurrent.futures.ThreadPoolExecutor(args.bodies) as pool:
            statuses = list(pool.map(lambda _: post(base_url + "/assistants", body), range(args.bodies)))
        after = memory_mib(pid)
    print(f"{args.bodies} parallel bodies of {len(body) / 2**20:.1f} MiB (answers {sorted(set(statuses))}): "
          f"RSS {before['VmRSS']} MiB before, {after['VmHWM']} MiB at peak, {after['VmRSS']} MiB after")


if __name__ == "__main__":
    main()
