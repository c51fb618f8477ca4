"""The CodeInterpreterTests kit with the mistral adapter behind it against the fake Mistral, on core's
bubblewrap sandbox (numpy, pandas and matplotlib inside): in process over a sync SDK client, and
over HTTP through `supercompat serve`'s server over an async one."""

import pytest

from supercompat.testing import CodeInterpreterTests
from supercompat.testing.loopback import sdk_clients
from supercompat.testing.sandbox_python import sandbox_for_tests
from supercompat.testing.serving import in_process_client, served_client
from supercompat_mistral.testing import ScriptedFakeMistral


class TestMistralCodeInterpreter(CodeInterpreterTests):
    scripted_provider = ScriptedFakeMistral.fixture()
    client = in_process_client()  # core's tests vary the openai client
    make_client = sdk_clients(asynchronous=False)

    @pytest.fixture
    def sandbox(self):
        return sandbox_for_tests()  # closed with the App


class TestMistralCodeInterpreterOverHTTP(TestMistralCodeInterpreter):
    client = served_client()
    make_client = sdk_clients(asynchronous=True)
