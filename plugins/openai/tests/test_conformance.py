"""The openai adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against the fake provider."""

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_openai import openai_client_adapter
from supercompat_openai.testing import ScriptedFakeOpenAI, Truncated


class TestOpenAIClientAdapter(ClientAdapterTests):
    scripted_provider = ScriptedFakeOpenAI.fixture()


class TestOpenAIProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return openai_client_adapter(openai=make_client(timeout=seconds))

    def dropped(self):
        return Truncated(clean=False)
