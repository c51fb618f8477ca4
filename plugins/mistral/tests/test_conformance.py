"""The Mistral adapter passes the ClientAdapterTests kit, sync and async, against the fake provider."""

import pytest
from supercompat.testing import ClientAdapterTests
from supercompat_mistral import mistral_client_adapter
from supercompat_mistral.testing import ScriptedFakeMistral


class TestMistralClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, make_client):
        return ScriptedFakeMistral(fake, mistral_client_adapter(mistral=make_client()))
