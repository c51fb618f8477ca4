"""The FileSearchTests kit with the openai adapter behind it against the fake OpenAI: in process over
a sync openai SDK client (called through its async twin), and over HTTP through `supercompat serve`'s
server over an async one (each kind once: ClientAdapterTests covers both everywhere)."""

from supercompat.testing import FileSearchTests
from supercompat.testing.loopback import sdk_clients
from supercompat.testing.serving import in_process_client, served_client
from supercompat_openai.testing import ScriptedFakeOpenAI


class TestOpenAIFileSearch(FileSearchTests):
    scripted_provider = ScriptedFakeOpenAI.fixture()
    client = in_process_client()  # core's tests vary the openai client
    make_client = sdk_clients(asynchronous=False)

    def model_requests(self, scripted_provider):
        return scripted_provider.fake.chat_requests


class TestOpenAIFileSearchOverHTTP(TestOpenAIFileSearch):
    client = served_client()
    make_client = sdk_clients(asynchronous=True)
