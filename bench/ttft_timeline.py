"""Where the time to first token of a streamed run goes: milestones of each run, medians over runs.

    python bench/ttft_timeline.py [--runs 200]

A diagnostic, not a workload: it wraps a few internals (the run route, the request builder, the
OpenAI adapter's stream, the engine's publish) to note when each milestone is first reached, then
prints their medians beside the raw streamed call's time to first token. Sync client, memory
storage, the loopback fake provider in its own process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import openai

import supercompat_openai
from supercompat import app, supercompat, transport
from supercompat.api import runs as runs_api
from supercompat.runs import completions, engine

from workloads import INSTRUCTIONS, fake_provider

warnings.filterwarnings("ignore", category=DeprecationWarning)
marks: dict[str, float] = {}


def mark(name: str) -> None:
    marks.setdefault(name, time.perf_counter())


def wrap_internals() -> None:
    handle, create, build = (transport.SupercompatTransport.handle_request, runs_api.create,
                             completions.build_request)
    stream, publish = supercompat_openai.OpenAIClientAdapter.chat_completions_stream, engine.RunEngine._publish

    def handle_request(self, request):
        mark("request reaches the transport")
        response = handle(self, request)
        mark("response (headers) back in the caller's thread")
        return response

    async def create_run(app_, req):
        mark("run handler starts on the core loop")
        try:
            return await create(app_, req)
        finally:
            mark("run handler done, run started")

    async def build_request(ctx):
        mark("run turn: building the provider request")
        return await build(ctx)

    async def chat_completions_stream(self, params):
        mark("provider call sent")
        async for chunk in stream(self, params):
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                mark("first text chunk from the provider")
            yield chunk

    def _publish(self, run_id, event, data):
        if event == "thread.message.delta":
            mark("first thread.message.delta published")
        return publish(self, run_id, event, data)

    transport.SupercompatTransport.handle_request = handle_request
    app._router.add("POST", "/threads/{thread_id}/runs", create_run)
    completions.build_request = build_request
    supercompat_openai.OpenAIClientAdapter.chat_completions_stream = chat_completions_stream
    engine.RunEngine._publish = _publish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval() in seconds, to see what "
                        "the GIL hand-over between the caller's thread and the core loop costs (default 0.005)")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    wrap_internals()
    rows: dict[str, list[float]] = {}
    with fake_provider() as (base_url, _):
        provider = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
        client = supercompat(client_adapter=supercompat_openai.openai_client_adapter(openai=provider), max_retries=0)
        assistant = client.beta.assistants.create(model="fake-model", instructions=INSTRUCTIONS)
        for i in range(args.runs):
            text = f"Stream please {i}"
            thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
            marks.clear()
            t0 = marks["caller calls runs.create(stream=True)"] = time.perf_counter()
            for event in client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True):
                if event.event == "thread.run.created":
                    mark("caller has parsed thread.run.created")
                elif event.event == "thread.message.delta":
                    mark("caller has parsed the first thread.message.delta (TTFT)")
            t1 = time.perf_counter()
            for chunk in provider.chat.completions.create(model="fake-model", stream=True, messages=[
                    {"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": text}]):
                if chunk.choices and chunk.choices[0].delta.content:
                    mark("raw streamed call: first token (raw TTFT, own clock)")
                    break
            for name, at in marks.items():
                rows.setdefault(name, []).append((at - (t1 if name.startswith("raw") else t0)) * 1000)
    for name, samples in sorted(rows.items(), key=lambda item: statistics.median(item[1])):
        print(f"{statistics.median(samples):7.2f} ms  {name}")


if __name__ == "__main__":
    main()
