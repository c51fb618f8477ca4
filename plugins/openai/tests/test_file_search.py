"""The FileSearchTests kit with the openai adapter behind it (sync, async and own-http-client provider
clients) against the fake OpenAI: in process, and over HTTP through `supercompat serve`'s server."""

from supercompat.testing import FileSearchTests
from supercompat.testing.file_search import in_process_client, served_client
from supercompat.testing.loopback import sdk_clients
from supercompat_openai.testing import ScriptedFakeOpenAI


class TestOpenAIFileSearch(FileSearchTests):
    scripted_provider = ScriptedFakeOpenAI.fixture()
    client = in_process_client()  # core's tests vary the openai client; these, the provider's

    def model_requests(self, scripted_provider):
        return scripted_provider.fake.chat_requests


class TestOpenAIFileSearchOverHTTP(TestOpenAIFileSearch):
    client = served_client()
    make_client = sdk_clients(asynchronous=True)  # in process, the kit runs on every kind
