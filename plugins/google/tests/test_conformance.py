"""The google adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against the fake Gemini."""

import pytest

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_google import google_client_adapter
from supercompat_google.testing import Garbled, ScriptedFakeGemini, Truncated


class TestGoogleClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, adapter):
        return ScriptedFakeGemini(fake, adapter)


class TestGoogleProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return google_client_adapter(google=make_client(timeout=int(seconds * 1000)))  # HttpOptions takes ms

    def stream_slowly(self, fake):
        fake.chunk_delay = 0.02

    garbled, truncated = Garbled, Truncated
