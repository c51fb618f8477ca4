"""The anthropic adapter passes the ClientAdapterTests kit, sync and async, against the fake provider."""

import pytest

from supercompat.testing import ClientAdapterTests
from supercompat_anthropic import anthropic_client_adapter
from supercompat_anthropic.testing import ScriptedFakeAnthropic


class TestAnthropicClientAdapter(ClientAdapterTests):
    @pytest.fixture
    def scripted_provider(self, fake, make_client):
        return ScriptedFakeAnthropic(fake, anthropic_client_adapter(anthropic=make_client()))
