"""The anthropic adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against the fake provider."""

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_anthropic import anthropic_client_adapter
from supercompat_anthropic.testing import ScriptedFakeAnthropic


class TestAnthropicClientAdapter(ClientAdapterTests):
    scripted_provider = ScriptedFakeAnthropic.fixture()


class TestAnthropicProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return anthropic_client_adapter(anthropic=make_client(timeout=seconds))
