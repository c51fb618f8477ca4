"""AssistantsContractTests through the real server: openai.OpenAI and openai.AsyncOpenAI with base_url
pointed at it, the scripted model behind it."""

from __future__ import annotations

import openai
import pytest

from supercompat import App
from supercompat.testing import AssistantsContractTests, scripted_client_adapter


class TestOverHTTP(AssistantsContractTests):
    @pytest.fixture
    def scripted_provider(self):
        return scripted_client_adapter()

    @pytest.fixture(params=["sync-client", "async-client"])
    async def client(self, request, scripted_provider, storage_adapter, http_server):
        http_server.asgi.app = App(client_adapter=scripted_provider.adapter, storage_adapter=storage_adapter)
        client = http_server.client(request.param)
        yield client
        if isinstance(client, openai.AsyncOpenAI):
            await client.close()

    def test_the_server_answered(self, http_server, client):
        """Not in process: the client's requests go over loopback HTTP."""
        assert str(client.base_url) == http_server.base_url + "/"
