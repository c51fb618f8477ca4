"""The openai adapter passes the ClientAdapterTests kit, sync and async, against the fake provider."""

import pytest

from supercompat.testing import ClientAdapterTests
from supercompat.testing.fake_openai import ScriptedFakeOpenAI
from supercompat_openai import openai_client_adapter


class TestOpenAIClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, make_client):
        return ScriptedFakeOpenAI(fake, openai_client_adapter(openai=make_client()))
