"""The FileSearchTests kit with the mistral adapter behind it against the fake Mistral: in process
over a sync mistralai client, and over HTTP through `supercompat serve`'s server over an async one
(each kind once)."""

from supercompat.testing import FileSearchTests
from supercompat.testing.loopback import sdk_clients
from supercompat.testing.serving import in_process_client, served_client
from supercompat_mistral.testing import ScriptedFakeMistral


class TestMistralFileSearch(FileSearchTests):
    scripted_provider = ScriptedFakeMistral.fixture()
    client = in_process_client()  # core's tests vary the openai client
    make_client = sdk_clients(asynchronous=False)

    def model_requests(self, scripted_provider):
        return scripted_provider.fake.chat_requests


class TestMistralFileSearchOverHTTP(TestMistralFileSearch):
    client = served_client()
    make_client = sdk_clients(asynchronous=True)
