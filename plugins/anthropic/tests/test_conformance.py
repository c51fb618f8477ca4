"""The anthropic adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against the fake provider."""

import pytest

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_anthropic import anthropic_client_adapter
from supercompat_anthropic.testing import Garbled, ScriptedFakeAnthropic, Truncated


class TestAnthropicClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, make_client):
        return ScriptedFakeAnthropic(fake, anthropic_client_adapter(anthropic=make_client()))


class TestAnthropicProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return anthropic_client_adapter(anthropic=make_client(timeout=seconds))

    def stream_slowly(self, fake):
        fake.word_delay = 0.02

    garbled, truncated = Garbled, Truncated
