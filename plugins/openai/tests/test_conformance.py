"""The openai adapter passes the ClientAdapterTests kit, sync and async, against the fake provider."""

import pytest

from supercompat.testing import ClientAdapterTests
from supercompat.testing.fake_openai import Error, Length, Text, ToolCalls
from supercompat_openai import openai_client_adapter


class ScriptedFake:
    """The kit's ``scripted_provider``: its Replies played by the fake OpenAI provider."""

    def __init__(self, fake, adapter):
        self.fake, self.adapter = fake, adapter

    def script(self, *replies):
        for reply in replies:
            if reply.tool_calls:
                self.fake.script(ToolCalls(list(reply.tool_calls)))
            elif reply.finish_reason == "length":
                self.fake.script(Length(reply.text))
            else:
                self.fake.script(Text(reply.text))

    def fail(self, status, message):
        self.fake.script(Error(status, message))


class TestOpenAIClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, make_client):
        return ScriptedFake(fake, openai_client_adapter(openai=make_client()))
