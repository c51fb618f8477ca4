"""The google adapter passes the ClientAdapterTests kit, sync and async, against the fake Gemini."""

import pytest
from supercompat.testing import ClientAdapterTests
from supercompat_google.testing import ScriptedFakeGemini


class TestGoogleClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, adapter):
        return ScriptedFakeGemini(fake, adapter)
