"""``supercompat demo``: the assistants flow through the real openai SDK, narrated."""

from __future__ import annotations

import argparse
import warnings


def run_demo(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from . import from_config, supercompat

    client = from_config(args.config) if args.config else supercompat()
    assistant = client.beta.assistants.create(
        model="gpt-4.1-mini", name="Weather helper", instructions="Answer briefly.",
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
    print(f"assistant  {assistant.id}  {assistant.name!r} with tool get_weather")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What's the weather in Paris?"}],
                                        metadata={"demo": "true"})
    print(f"thread     {thread.id}")
    client.beta.threads.messages.create(thread.id, role="user", content="And in Rome?")
    for message in client.beta.threads.messages.list(thread.id, order="asc"):
        print(f"message    {message.id}  {message.role}: {message.content[0].text.value}")
    client.beta.threads.delete(thread.id)
    client.beta.assistants.delete(assistant.id)
    print("cleaned up: thread and assistant deleted")
    return 0
