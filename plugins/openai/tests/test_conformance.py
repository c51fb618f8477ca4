"""The openai adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against the fake provider."""

import pytest

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_openai import openai_client_adapter
from supercompat_openai.testing import Garbled, ScriptedFakeOpenAI, Truncated


class TestOpenAIClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, make_client):
        return ScriptedFakeOpenAI(fake, openai_client_adapter(openai=make_client()))


class TestOpenAIProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return openai_client_adapter(openai=make_client(timeout=seconds))

    def stream_slowly(self, fake):
        fake.token_delay = 0.02

    garbled, truncated = Garbled, Truncated

    def dropped(self):
        return Truncated(clean=False)
