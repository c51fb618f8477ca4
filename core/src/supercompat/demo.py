"""``supercompat demo``: the full assistants flow through the real openai SDK, narrated.

An assistant with a function tool, a thread, a streamed run, the tool round trip, and the final
messages. It talks to a real provider when one's API key is set (and its plugin is installed),
otherwise to the offline ``scripted`` adapter; it says which.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai.types.beta import FunctionToolParam
    from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput

PROVIDERS = [  # (environment variable, client adapter name, model)
    ("OPENAI_API_KEY", "openai", "gpt-4.1-mini"),
    ("ANTHROPIC_API_KEY", "anthropic", "claude-sonnet-4-6"),
    ("GEMINI_API_KEY", "google", "gemini-2.5-flash"),
    ("MISTRAL_API_KEY", "mistral", "mistral-small-latest"),
]
WEATHER_TOOL: FunctionToolParam = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def get_weather(city: str = "Paris", **_: Any) -> str:
    return json.dumps({"city": city, "temperature_c": 18, "sky": "clear"})


def choose_client_adapter() -> tuple[Any, str, str]:
    from .plugins import registry
    from .scripted import Reply, scripted_client_adapter

    installed = registry()["client"]
    for var, name, model in PROVIDERS:
        if os.environ.get(var):
            if name in installed:
                adapter = installed[name].build({"api_key": os.environ[var]})
                return adapter, model, f"{name} (key from {var})"
            print(f"note: {var} is set but supercompat-{name} is not installed; using the scripted adapter")
            break
    script = [Reply(text="Let me look that up.", tool_calls=[("get_weather", {"city": "Paris"})])]
    return scripted_client_adapter(script), "gpt-4.1-mini", "scripted (offline; set a provider API key to use it)"


def choose_storage_adapter(url: str) -> tuple[Any, str]:
    """SQLite (or ``url``) through supercompat-sqlalchemy when it is installed, else memory."""
    from .config import build_adapter
    from .plugins import registry

    if url == "memory":
        return None, "memory"
    if "sqlalchemy" not in registry()["storage"]:
        print("note: supercompat-sqlalchemy is not installed; keeping state in memory")
        return None, "memory"
    storage = build_adapter("storage", {"plugin": "sqlalchemy", "url": url})
    return storage, storage.url


def run_demo(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from . import from_config, supercompat

    if args.config:
        client, model, provider = from_config(args.config), "gpt-4.1-mini", f"from {args.config}"
        storage = f"from {args.config}"
    else:
        adapter, model, provider = choose_client_adapter()
        storage_adapter, storage = choose_storage_adapter(args.db)
        client = supercompat(client_adapter=adapter, storage_adapter=storage_adapter)
    print(f"provider   {provider}")
    print(f"storage    {storage}")
    assistant = client.beta.assistants.create(
        model=model, name="Weather helper", tools=[WEATHER_TOOL],
        instructions="You answer weather questions. Always call get_weather first, then answer in one sentence.")
    print(f"assistant  {assistant.id}")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What's the weather in Paris?"}])
    print(f"thread     {thread.id}")

    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        for text in stream.text_deltas:
            sys.stdout.write(text)
        run = stream.get_final_run()
    print(f"\nrun        {run.id} -> {run.status}")
    while run.status == "requires_action":
        outputs: list[ToolOutput] = []
        required = run.required_action
        if required is None:  # requires_action always says what
            break
        for tool_call in required.submit_tool_outputs.tool_calls:
            arguments = json.loads(tool_call.function.arguments or "{}")
            output = get_weather(**arguments)
            print(f"tool call  {tool_call.function.name}({tool_call.function.arguments}) -> {output}")
            outputs.append({"tool_call_id": tool_call.id, "output": output})
        with client.beta.threads.runs.submit_tool_outputs_stream(
                run_id=run.id, thread_id=thread.id, tool_outputs=outputs) as stream:
            sys.stdout.write("assistant  ")
            for text in stream.text_deltas:
                sys.stdout.write(text)
            run = stream.get_final_run()
        print(f"\nrun        {run.id} -> {run.status}")
    if run.status != "completed":
        print(f"the run ended {run.status}: {run.last_error}", file=sys.stderr)
        return 1
    print("messages:")
    for message in client.beta.threads.messages.list(thread.id, order="asc"):
        text = " ".join(part.text.value for part in message.content if part.type == "text")
        print(f"  {message.role:<9} {text}")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    print("run steps: " + ", ".join(f"{s.type} ({s.status})" for s in steps))
    if run.usage:
        print(f"usage      {run.usage.prompt_tokens} prompt + {run.usage.completion_tokens} completion tokens")
    return 0
