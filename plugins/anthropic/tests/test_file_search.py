"""The FileSearchTests kit with the anthropic adapter behind it against the fake Anthropic, reading
what Claude was sent in the Messages API's shapes: in process over a sync anthropic client, and over
HTTP through `supercompat serve`'s server over an async one (each kind once)."""

from supercompat.testing import FileSearchTests
from supercompat.testing.loopback import sdk_clients
from supercompat.testing.serving import in_process_client, served_client
from supercompat_anthropic.testing import ScriptedFakeAnthropic


def blocks(body, kind):
    return [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"] if b["type"] == kind]


class TestAnthropicFileSearch(FileSearchTests):
    scripted_provider = ScriptedFakeAnthropic.fixture()
    client = in_process_client()  # core's tests vary the openai client
    make_client = sdk_clients(asynchronous=False)

    def model_requests(self, scripted_provider):
        return scripted_provider.fake.message_requests

    def tool_results(self, body):
        return [b["content"] if isinstance(b["content"], str) else "".join(p["text"] for p in b["content"])
                for b in blocks(body, "tool_result")]

    def tool_calls(self, body):
        return [(b["name"], b["input"]) for b in blocks(body, "tool_use")]

    def forced_function(self, body):
        choice = body.get("tool_choice") or {}
        return choice.get("name") if choice.get("type") == "tool" else None


class TestAnthropicFileSearchOverHTTP(TestAnthropicFileSearch):
    client = served_client()
    make_client = sdk_clients(asynchronous=True)
