"""The Mistral adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against the fake provider."""

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_mistral import mistral_client_adapter
from supercompat_mistral.testing import ScriptedFakeMistral


class TestMistralClientAdapter(ClientAdapterTests):
    scripted_provider = ScriptedFakeMistral.fixture()


class TestMistralProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return mistral_client_adapter(mistral=make_client(timeout_ms=int(seconds * 1000)))
