import httpx2
import pytest
from mistralai.client import Mistral
from supercompat_mistral import mistral_client_adapter
from supercompat_mistral.testing import FakeMistralProvider


@pytest.fixture
def fake():
    with FakeMistralProvider() as provider:
        yield provider


@pytest.fixture(params=["sync", "async"])
async def make_client(request, fake):
    """Builds real Mistral SDK clients pointed at the fake: with only a sync http client (so the
    adapter uses the SDK's sync methods in threads), or with an async one (its ``*_async`` methods)."""
    made = []

    def make(**options):
        options = {"api_key": "test-key", "server_url": fake.server_url, **options}
        if request.param == "sync":
            http = httpx2.Client()
            sdk = Mistral(client=http, **options)
        else:
            http = httpx2.AsyncClient()
            sdk = Mistral(async_client=http, **options)
        made.append(http)
        return sdk

    yield make
    for http in made:
        if isinstance(http, httpx2.AsyncClient):
            await http.aclose()
        else:
            http.close()


@pytest.fixture
def adapter(make_client):
    return mistral_client_adapter(mistral=make_client())
