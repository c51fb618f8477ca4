"""The dashboard's thread page on a thread of 10,000 messages: time to its first screen, in Chromium.

    python bench/dashboard.py [--storage memory,sqlite] [--repeat 20] [--chromium PATH]
                              [--write docs/performance.md]

A thread of 10,000 messages is put straight into the App's storage (one ``create_thread`` with its
messages, then each run and its steps): user and assistant messages alternate, and each assistant
message is the answer of a completed run of its own, that run having two steps, a ``tool_calls`` step
(one function call, with its arguments and output) and the ``message_creation`` step of the answer.
A thread of 20 messages made the same way sits beside it in the same store, to show that the first
screen does not grow with the thread. The App is served by a real uvicorn server on loopback
(``supercompat.testing.serving``) with one API key, scoped to a project (so every call also checks
the thread's owner), and Debian's Chromium, driven by Playwright, opens ``/ui/#/threads/<id>``
logged in (the key set in ``sessionStorage`` by an init script, as the login form does).

The **first screen** is the time from navigation start (``performance.timeOrigin``: the page is a new
tab of the same browser context each time, so the dashboard's files are revalidated, not downloaded)
to the first animation frame after the conversation holds the thread's newest 20 messages
(``.chat .message``) and the tool calls of their 10 runs (``.chat .tool-call``): the frame that
paints them. A MutationObserver, installed before the page's scripts run, notes the moment the DOM
holds them (``dom`` in the JSON) and asks for that frame. Also measured, from the page's Resource
Timing entries: the ``/v1`` calls made before the first screen and when the page's phases ended (its
scripts loaded and the first call sent; the thread read; the page of messages and of runs read; the
last run's steps read). **Load earlier** is the time from a click on "Load earlier messages" to the
frame after the conversation holds 40 messages and 20 tool calls, with the ``/v1`` calls it made
(only for the long thread: the short one has nothing earlier).

``--repeat`` measurements per thread and storage (after 2 warm-ups), the two threads taking turns;
p50 and p95 (nearest rank), milliseconds. The budget (``BUDGET_MS``): the first screen of the long
thread within 1 s at p95, on this project's 2-core machine with nothing else running; the table says
whether each row holds it. Prints one JSON object per storage; ``--write`` replaces the ``dashboard``
section of the page. Needs supercompat[server], the SQL storage plugin for sqlite, Playwright's
Python package (the driver only: it never downloads a browser) and a Chromium: ``--chromium``, by
default ``$SUPERCOMPAT_CHROMIUM`` or Debian's ``/usr/bin/chromium``, as the dashboard tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from playwright.sync_api import Browser, BrowserContext, sync_playwright  # noqa: E402

from supercompat import App  # noqa: E402
from supercompat.testing import scripted_client_adapter  # noqa: E402
from supercompat.testing.browser import chromium_path, launch_chromium  # noqa: E402
from supercompat.testing.serving import serving  # noqa: E402
from supercompat.testing.storage import store_conversation  # noqa: E402

from report import host, pct, write_section  # noqa: E402
from stores import stores  # noqa: E402

Obj = dict[str, Any]
KEY, PROJECT = "sk-bench-dashboard", "bench"
SIZES = (10_000, 20)
SCREEN = {"messages": 20, "calls": 10}  # the first screen: 20 messages, the tool calls of their 10 runs
EARLIER = {"messages": 40, "calls": 20}  # after "Load earlier messages"
WARMUPS = 2
BUDGET_MS = 1000  # the first screen's p95, on this project's 2-core machine
# Run in every new page before its own scripts: log in, and watch for the first screen.
WATCH = """(() => {
  sessionStorage.setItem("supercompat.key", %(key)s);
  const want = %(want)s;
  window.__bench = null;
  const observer = new MutationObserver(() => {
    if (window.__bench) return;
    const messages = document.querySelectorAll(".chat .message").length;
    const calls = document.querySelectorAll(".chat .tool-call").length;
    if (messages < want.messages || calls < want.calls) return;
    const bench = window.__bench = { dom: performance.now(), messages, calls };
    observer.disconnect();
    requestAnimationFrame(() => { bench.frame = performance.now(); });
  });
  observer.observe(document, { childList: true, subtree: true });
})();"""

# What the first screen cost, from the page's Resource Timing entries (milliseconds since navigation).
PHASES = """() => {
  const screen = window.__bench;
  const api = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/v1/") && e.startTime <= screen.dom)
    .map((e) => ({ path: new URL(e.name).pathname, start: e.startTime, end: e.responseEnd,
                   wait: e.responseStart - e.requestStart }));
  const kind = (e) => (e.path.endsWith("/steps") ? "steps" : e.path.endsWith("/messages") ? "messages"
    : e.path.endsWith("/runs") ? "runs" : /\\/threads\\/[^/]+$/.test(e.path) ? "thread" : "other");
  const end = (k) => Math.max(...api.filter((e) => kind(e) === k).map((e) => e.end));
  const wait = {};
  for (const e of api) (wait[kind(e)] ||= []).push(e.wait);
  return { ...screen, calls: api.length, kinds: api.map(kind), wait,
           first_call: Math.min(...api.map((e) => e.start)), thread: end("thread"),
           messages_and_runs: Math.max(end("messages"), end("runs")), steps: end("steps"),
           newest: document.querySelector(".chat .message:last-of-type .text")?.textContent };
}"""

# Click "Load earlier messages"; resolves with the time to the frame after the earlier page is shown.
LOAD_EARLIER = """(want) => new Promise((resolve) => {
  const chat = document.querySelector(".chat");
  const button = [...document.querySelectorAll("button")]
    .find((b) => b.textContent === "Load earlier messages");
  const seen = performance.getEntriesByType("resource").length;
  const start = performance.now();
  const observer = new MutationObserver(() => {
    const messages = chat.querySelectorAll(".message").length;
    if (messages < want.messages || chat.querySelectorAll(".tool-call").length < want.calls) return;
    const dom = performance.now() - start;
    observer.disconnect();
    requestAnimationFrame(() => resolve({
      dom, frame: performance.now() - start, messages,
      calls: performance.getEntriesByType("resource").slice(seen)
        .filter((e) => e.name.includes("/v1/")).length,
    }));
  });
  observer.observe(chat, { childList: true, subtree: true });
  button.click();
})"""


def first_screen(context: BrowserContext, url: str, size: int) -> Obj:
    """Open the thread in a new tab; what its first screen cost, and then what "Load earlier" did."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.__bench && window.__bench.frame !== undefined", timeout=60_000)
        sample = page.evaluate(PHASES)
        last = size // 2 - 1
        assert sample["newest"].startswith(f"In City {last} "), sample["newest"]
        if size > SCREEN["messages"]:
            sample["earlier"] = page.evaluate(LOAD_EARLIER, EARLIER)
            assert sample["earlier"]["messages"] == EARLIER["messages"], sample["earlier"]
        return sample
    finally:
        page.close()


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(samples), 1), "p95": round(pct(samples, 95), 1)}


def summarize(samples: list[Obj]) -> Obj:
    out: Obj = {"n": len(samples)}
    for key in ("frame", "dom", "first_call", "thread", "messages_and_runs", "steps"):
        out[key] = summary([s[key] for s in samples])
    out["calls"] = sorted({s["calls"] for s in samples})
    out["call_kinds"] = {k: samples[0]["kinds"].count(k) for k in dict.fromkeys(samples[0]["kinds"])}
    out["wait"] = {k: summary([w for s in samples for w in s["wait"].get(k, [])]) for k in samples[0]["wait"]}
    if "earlier" in samples[0]:
        out["earlier"] = {key: summary([s["earlier"][key] for s in samples]) for key in ("frame", "dom")}
        out["earlier"]["calls"] = sorted({s["earlier"]["calls"] for s in samples})
    return out


def measure(browser: Browser, storage_kind: str, repeat: int) -> Obj:
    result: Obj = {"storage": storage_kind, "repeat": repeat}
    with stores(storage_kind) as made:
        app = App(client_adapter=scripted_client_adapter(), storage_adapter=made.fresh())
        with serving(app, api_keys=[{"key": KEY, "project": PROJECT}], shutdown_grace_seconds=0) as server:
            threads, fill_s = {}, {}
            for size in SIZES:
                start = time.perf_counter()
                threads[size] = server.call(store_conversation(app.storage, size, PROJECT)).result()
                fill_s[size] = round(time.perf_counter() - start, 1)
                print(f"{storage_kind}: a thread of {size:,} messages stored in {fill_s[size]} s",
                      file=sys.stderr)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(WATCH % {"key": json.dumps(KEY), "want": json.dumps(SCREEN)})
            samples: dict[int, list[Obj]] = {size: [] for size in SIZES}
            try:
                for i in range(WARMUPS + repeat):
                    for size in SIZES:
                        sample = first_screen(context, f"{server.url}/ui/#/threads/{threads[size]}", size)
                        if i >= WARMUPS:
                            samples[size].append(sample)
            finally:
                context.close()
        server.call(app.aclose(grace=0)).result()  # on the loop it served on
    result["threads"] = {str(size): {"fill_s": fill_s[size], **summarize(samples[size])} for size in SIZES}
    return result


def table(results: list[Obj]) -> str:
    rows = ["| storage | messages in the thread | first screen p50 | p95 | within the budget | `/v1` calls "
            "| load earlier p50 | p95 | its `/v1` calls |", "|---|---:|---:|---:|:---:|---:|---:|---:|---:|"]
    for r in results:
        for size, t in r["threads"].items():
            cells = [r["storage"], f"{int(size):,}", f"{t['frame']['p50']:.0f}", f"{t['frame']['p95']:.0f}",
                     "yes" if t["frame"]["p95"] <= BUDGET_MS else "**no**", "/".join(map(str, t["calls"]))]
            earlier = t.get("earlier")
            cells += ([f"{earlier['frame']['p50']:.0f}", f"{earlier['frame']['p95']:.0f}",
                       "/".join(map(str, earlier["calls"]))] if earlier else ["—", "—", "—"])
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def phases(results: list[Obj]) -> str:
    rows = ["| storage | messages in the thread | first call sent | thread read | messages and runs read "
            "| last steps read | first screen | server's wait per call: thread, messages, runs, steps |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        for size, t in r["threads"].items():
            keys = ("first_call", "thread", "messages_and_runs", "steps", "frame")
            moments = [f"{t[k]['p50']:.0f}" for k in keys]
            wait = ", ".join(f"{t['wait'][k]['p50']:.1f}" for k in ("thread", "messages", "runs", "steps"))
            rows.append(f"| {r['storage']} | {int(size):,} | " + " | ".join(moments) + f" | {wait} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default="memory,sqlite")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--chromium", default=chromium_path())
    parser.add_argument("--write", metavar="PAGE")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)
    before = os.getloadavg()[0]
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, args.chromium)
        try:
            results = [measure(browser, storage, args.repeat) for storage in args.storage.split(",")]
            version = browser.version
        finally:
            browser.close()
    for result in results:
        print(json.dumps(result))
    if args.write:
        after = os.getloadavg()[0]
        text = (f"`python bench/dashboard.py --write {args.write}` — {args.repeat} first screens per thread "
                f"and storage (after {WARMUPS} warm-ups), headless Chromium {version} at 1280×800, the "
                f"server on loopback in the same process; milliseconds since navigation start; the budget: "
                f"a first screen within {BUDGET_MS:,} ms, p95. "
                f"{host(f'{before:.1f} before and {after:.1f} after')}.\n\n"
                + table(results)
                + "\nWhere the first screen's time goes: p50 of each moment, milliseconds since navigation "
                "start; the server's wait is from a request sent to its first byte back, p50 over the calls "
                "of that kind.\n\n" + phases(results))
        write_section(args.write, "dashboard", text)


if __name__ == "__main__":
    main()
