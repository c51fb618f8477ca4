"""The google adapter passes the ClientAdapterTests and ProviderFailureTests kits, sync and async,
against the fake Gemini."""

from supercompat.testing import ClientAdapterTests, ProviderFailureTests
from supercompat_google import google_client_adapter
from supercompat_google.testing import ScriptedFakeGemini


class TestGoogleClientAdapter(ClientAdapterTests):
    scripted_provider = ScriptedFakeGemini.fixture()


class TestGoogleProviderFailures(ProviderFailureTests):
    def adapter_with_timeout(self, make_client, seconds):
        return google_client_adapter(google=make_client(timeout=int(seconds * 1000)))  # HttpOptions takes ms
