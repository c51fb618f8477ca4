"""The FileSearchTests kit with the google adapter behind it against the fake Gemini, reading what
Gemini was sent in its own shapes (function calls and responses as parts, the forced function in
toolConfig): in process over a genai.Client, and over HTTP through `supercompat serve`'s server
over its .aio (each kind once)."""

from supercompat.testing import FileSearchTests
from supercompat.testing.loopback import sdk_clients
from supercompat.testing.serving import in_process_client, served_client
from supercompat_google.testing import ScriptedFakeGemini


def parts(body, kind):
    return [p[kind] for c in body["contents"] for p in c["parts"] if kind in p]


class TestGoogleFileSearch(FileSearchTests):
    scripted_provider = ScriptedFakeGemini.fixture()
    client = in_process_client()  # core's tests vary the openai client
    make_client = sdk_clients(asynchronous=False)

    def model_requests(self, scripted_provider):
        return scripted_provider.fake.generate_requests

    def tool_results(self, body):
        return [r["response"]["result"] for r in parts(body, "functionResponse")]

    def tool_calls(self, body):
        return [(c["name"], c["args"]) for c in parts(body, "functionCall")]

    def forced_function(self, body):
        config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if config.get("mode") != "ANY":
            return None
        [name] = config["allowedFunctionNames"]
        return name


class TestGoogleFileSearchOverHTTP(TestGoogleFileSearch):
    client = served_client()
    make_client = sdk_clients(asynchronous=True)
