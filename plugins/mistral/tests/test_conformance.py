"""The Mistral adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against the fake provider."""

import pytest

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_mistral import mistral_client_adapter
from supercompat_mistral.testing import Garbled, ScriptedFakeMistral, Truncated


class TestMistralClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, make_client):
        return ScriptedFakeMistral(fake, mistral_client_adapter(mistral=make_client()))


class TestMistralProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return mistral_client_adapter(mistral=make_client(timeout_ms=int(seconds * 1000)))

    def stream_slowly(self, fake):
        fake.word_delay = 0.02

    garbled, truncated = Garbled, Truncated
