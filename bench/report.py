"""docs/performance.md from benchmark rounds: medians across rounds, ratios, targets met or missed.

A value in a table is the median over rounds of that round's figure (its p50, or its p99); the
rounds' spread is in the JSON that ``run_all.py --keep`` leaves behind.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable
from typing import Any

Round = dict[str, Any]
Getter = Callable[[dict[str, Any]], float]

# (label, getter over a round's workloads, target text, met?, reference TS 4.2.3)
TARGETS: list[tuple[str, Getter, str, Callable[[float], bool], str]] = [
    ("run overhead over a raw streamed call, p50 (`runs_poll`)",
     lambda w: w["runs_poll"]["overhead_p50_ms_vs_raw_stream"], "≤ 1.0 ms", lambda v: v <= 1.0, "1.30 ms"),
    ("time-to-first-token overhead, p50 (`stream_ttft`)",
     lambda w: w["stream_ttft"]["ttft_overhead_p50_ms"], "≤ 0.5 ms", lambda v: v <= 0.5, "0.71 ms"),
    ("`messages.list(limit=20)` on 2,000 messages, p50 (`long_thread`)",
     lambda w: w["long_thread"]["list_limit20_desc"]["p50_ms"], "≤ 0.5 ms", lambda v: v <= 0.5, "0.94 ms"),
    ("run on 2,000 messages above the raw call, same payload via `post()`, p50",
     lambda w: w["long_thread"]["run_overhead_p50_ms_vs_raw_post"], "≤ 5 ms", lambda v: v <= 5, "22.5 ms"),
    ("CRUD iteration: overhead above the SDK floor / floor, p50",
     lambda w: w["crud"]["iteration"]["p50_ms"] / w["floor"]["iteration"]["p50_ms"] - 1, "≤ 50 %",
     lambda v: v <= 0.5, ""),
]
CONCURRENT = ("50 concurrent runs, async client (`concurrent`, median batch)", "≥ 400 runs/s", "400 runs/s")
RSS = ("peak RSS of the whole workload sequence", "≤ 120 MB", "")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), None where /proc isn't there."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(samples: list[float], q: float) -> float:
    """Nearest rank, as the reference does."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def median(rounds: list[Round], get: Getter) -> float:
    return statistics.median(get(r["workloads"]) for r in rounds)


def p50(*path: str) -> Getter:
    return lambda w: _at(w, path)["p50_ms"]


def p99(*path: str) -> Getter:
    return lambda w: _at(w, path)["p99_ms"]


def _at(w: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        w = w[key]
    return w


def fmt(value: float, unit: str = "ms") -> str:
    if unit == "%":
        return f"{value * 100:.0f} %"
    if unit == "×":
        return f"{value:.2f}×"
    return f"{value:.2f} {unit}".rstrip()


def targets_table(sync: list[Round], asynchronous: list[Round], scaling: list[dict[str, Any]],
                  paced: list[Round] | None = None) -> str:
    lines = ["| target (memory storage, sync client) | goal | ours, median of rounds | reference (TS 4.2.3) | met |",
             "|---|---:|---:|---:|:---:|"]
    for label, get, goal, met, ref in TARGETS:
        value = median(sync, get)
        unit = "%" if goal.endswith("%") else "ms"
        lines.append(f"| {label} | {goal} | {fmt(value, unit)} | {ref} | {'yes' if met(value) else '**no**'} |")
        if paced and label.startswith("time-to-first-token"):
            value = median(paced, get)
            lines.append(f"| the same, the provider sending a token every 1 ms (not the reference setting) | {goal} | "
                         f"{fmt(value, unit)} | | {'yes' if met(value) else '**no**'} |")
    memory = {row["size"]: row["p50_ms"] for row in scaling if row["storage"] == "memory"}
    if memory:
        flat = max(memory.values()) / memory[min(memory)]
        lines.append(f"| list cost, {max(memory):,} vs {min(memory):,} messages (p50 ratio) | flat | "
                     f"{flat:.2f}× | | {'yes' if flat <= 1.25 else '**no**'} |")
    source = asynchronous or sync
    runs = statistics.median(r["workloads"]["concurrent"]["runs_per_sec_median"] for r in source)
    lines.append(f"| {CONCURRENT[0]} | {CONCURRENT[1]} | {runs:.0f} runs/s | {CONCURRENT[2]} | "
                 f"{'yes' if runs >= 400 else '**no**'} |")
    peak = statistics.median(r["rss"]["peak_mb"] for r in sync + asynchronous)
    lines.append(f"| {RSS[0]} | {RSS[1]} | {peak:.0f} MB | | {'yes' if peak <= 120 else '**no**'} |")
    return "\n".join(lines) + "\n"


FLOOR_ROWS = [("threads.create", "threads_create"), ("messages.create", "messages_create"),
              ("messages.list(limit=20)", "messages_list"), ("crud iteration (the three)", "iteration")]


def floor_table(rounds: list[Round]) -> str:
    lines = ["| call | SDK floor p50 | ours p50 | overhead | overhead / floor | ours p99 |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, key in FLOOR_ROWS:
        floor, ours = median(rounds, p50("floor", key)), median(rounds, p50("crud", key))
        lines.append(f"| {label} | {fmt(floor)} | {fmt(ours)} | {fmt(ours - floor)} | {fmt(ours / floor - 1, '%')} | "
                     f"{fmt(median(rounds, p99('crud', key)))} |")
    for label, floor_get, ours_get in (
            ("messages.list(limit=20) returning 20 (`long_thread`)", p50("floor", "messages_list_20"),
             p50("long_thread", "list_limit20_desc")),
            ("run `create_and_poll` (floor: canned answers; ours: + provider call)", p50("floor", "run_createAndPoll"),
             p50("runs_poll", "run_createAndPoll")),
            ("streamed run, first text delta", p50("floor", "run_ttft"), p50("stream_ttft", "run_ttft"))):
        floor, ours = median(rounds, floor_get), median(rounds, ours_get)
        lines.append(f"| {label} | {fmt(floor)} | {fmt(ours)} | {fmt(ours - floor)} | {fmt(ours / floor - 1, '%')} | |")
    return "\n".join(lines) + "\n"


def ttft_breakdown(rounds: list[Round], paced: list[Round]) -> str:
    """Where the time to first token goes: what the SDK alone costs for each protocol, from canned
    bytes, against the same calls on the loopback provider, sending its tokens at once (the
    reference setting) and, in ``paced`` rounds, 1 ms apart."""
    floor_run, floor_raw = median(rounds, p50("floor", "run_ttft")), median(rounds, p50("floor", "raw_ttft"))
    rows = [("SDK alone, canned bytes (floor)", floor_run, floor_raw)]
    for label, source in (("on the loopback provider, all tokens at once", rounds),
                          ("on the loopback provider, a token every 1 ms", paced)):
        if source:
            rows.append((label, median(source, p50("stream_ttft", "run_ttft")),
                         median(source, p50("stream_ttft", "raw_ttft"))))
    lines = ["| time to first token, p50 | streamed run (Assistants events) | raw chat stream | difference |",
             "|---|---:|---:|---:|"]
    for label, run, chat in rows:
        lines.append(f"| {label} | {fmt(run)} | {fmt(chat)} | {fmt(run - chat)} |")
    return "\n".join(lines) + "\n"


def concurrency_budget(rounds: list[Round]) -> str:
    """CPU per run against the 2-core budget: 400 runs/s leaves 5 ms of CPU per run for everything."""
    get = lambda key: statistics.median(r["workloads"]["concurrent"][key] for r in rounds)  # noqa: E731
    ours, provider = get("cpu_ms_per_run"), get("provider_cpu_ms_per_run")
    raw, raw_provider = get("raw_cpu_ms_per_stream"), get("raw_provider_cpu_ms_per_stream")
    return ("| CPU per unit of work, median batch of 50 | this process | the fake provider's | "
            "ceiling on 2 cores (one GIL for this process) |\n|---|---:|---:|---:|\n"
            f"| a run (`create_and_poll`, async client) | {fmt(ours)} | {fmt(provider)} | "
            f"{min(1000 / ours, 2000 / (ours + provider)):.0f} runs/s |\n"
            f"| a raw streamed call (async SDK) | {fmt(raw)} | {fmt(raw_provider)} | "
            f"{min(1000 / raw, 2000 / (raw + raw_provider)):.0f} calls/s |\n")


# (label, p50 getter, p99 getter, unit); the ratio column divides by the memory column.
SIDE_BY_SIDE: list[tuple[str, Getter, Getter | None, str]] = [
    ("crud iteration", p50("crud", "iteration"), p99("crud", "iteration"), "ms"),
    ("messages.list(limit=20), 1 message", p50("crud", "messages_list"), p99("crud", "messages_list"), "ms"),
    ("run `create_and_poll`", p50("runs_poll", "run_createAndPoll"), p99("runs_poll", "run_createAndPoll"), "ms"),
    ("run overhead over raw stream", lambda w: w["runs_poll"]["overhead_p50_ms_vs_raw_stream"],
     lambda w: w["runs_poll"]["overhead_p99_ms_vs_raw_stream"], "ms"),
    ("run / raw stream", lambda w: w["runs_poll"]["ratio_p50_run_over_raw_stream"], None, "×"),
    ("streamed run, time to first token", p50("stream_ttft", "run_ttft"), p99("stream_ttft", "run_ttft"), "ms"),
    ("TTFT overhead over raw stream", lambda w: w["stream_ttft"]["ttft_overhead_p50_ms"],
     lambda w: w["stream_ttft"]["ttft_overhead_p99_ms"], "ms"),
    ("tool round trip (to requires_action, submit, completed)", p50("tool_roundtrip", "total"),
     p99("tool_roundtrip", "total"), "ms"),
    ("long thread: messages.list(limit=20) on 2,000", p50("long_thread", "list_limit20_desc"),
     p99("long_thread", "list_limit20_desc"), "ms"),
    ("long thread: run on 2,000 messages", p50("long_thread", "runs"), None, "ms"),
    ("long thread: raw call, same payload, `post()`", p50("long_thread", "raw_post_same_payload"), None, "ms"),
    ("long thread: raw call, same payload, `chat.completions.create()`",
     p50("long_thread", "raw_stream_same_payload"), None, "ms"),
    ("50 concurrent runs (runs/s, median batch)", lambda w: w["concurrent"]["runs_per_sec_median"], None, "runs/s"),
]


def side_by_side(columns: list[tuple[str, list[Round]]]) -> str:
    """One column per (storage, client) with p50 (p99) and, past the first, the ratio to the first."""
    head = "| metric, median of rounds: p50 (p99) | " + " | ".join(name for name, _ in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for label, get50, get99, unit in SIDE_BY_SIDE:
        cells, base = [], None
        for _, rounds in columns:
            try:
                value = median(rounds, get50)
            except KeyError:
                cells.append("")
                continue
            cell = f"{value:.0f} {unit}" if unit == "runs/s" else fmt(value, unit)
            if get99 is not None:
                cell += f" ({median(rounds, get99):.2f})"
            if base is None:
                base = value
            elif unit == "ms" and base > 0 and "overhead" not in label:
                cell += f" · {value / base:.1f}×"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    rss = [f"{statistics.median(r['rss']['peak_mb'] for r in rounds):.0f} MB "
           f"(+{statistics.median(r['rss']['growth_mb'] for r in rounds):.0f})" for _, rounds in columns]
    lines.append("| peak RSS (growth above start) | " + " | ".join(rss) + " |")
    errors = [str(sum(v.get("errors", 0) for r in rounds for v in r["workloads"].values())) for _, rounds in columns]
    lines.append("| errors over all rounds | " + " | ".join(errors) + " |")
    return "\n".join(lines) + "\n"


def scaling_table(rows: list[dict[str, Any]]) -> str:
    storages = list(dict.fromkeys(r["storage"] for r in rows))
    sizes = sorted({r["size"] for r in rows})
    by = {(r["storage"], r["size"]): r for r in rows}
    lines = ["| messages in thread | " + " | ".join(f"{s} p50 (p99) · vs {sizes[0]:,}" for s in storages) + " |",
             "|---:|" + "---:|" * len(storages)]
    for size in sizes:
        cells = []
        for s in storages:
            row, base = by.get((s, size)), by.get((s, sizes[0]))
            cells.append(f"{row['p50_ms']:.2f} ms ({row['p99_ms']:.2f}) · {row['p50_ms'] / base['p50_ms']:.2f}×"
                         if row and base else "")
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine(rounds: list[Round]) -> str:
    meta = rounds[0]["meta"]
    loads = [r["meta"][k] for r in rounds for k in ("load_avg_start", "load_avg_end")]
    return (f"{meta['python']}, openai {meta['openai']}, {meta['cpu_model'] or meta['machine']}, "
            f"{meta['cpus']} cores; 1-minute load average {min(loads):.1f}–{max(loads):.1f} during the rounds "
            "(the machine is shared, so absolute times drift; compare ratios and paired overheads)")


def host(load: str) -> str:
    """This machine, for a results line: ``load`` says when the load average was read ("1.2 at the end")."""
    return (f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
            f"1-minute load average {load}")


def write_section(path: str, marker: str, text: str) -> None:
    """Replace the section between ``<!-- marker -->`` comments, keeping the rest of the page."""
    begin, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    try:
        page = open(path).read()
    except FileNotFoundError:
        page = "# Performance\n\n"
    block = f"{begin}\n{text}{end}\n"
    if begin in page:
        head, rest = page.split(begin, 1)
        page = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        page = page.rstrip("\n") + "\n\n" + block
    open(path, "w").write(page)
