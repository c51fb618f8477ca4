import pytest
from supercompat.testing.loopback import SDKClients
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
    clients = SDKClients(fake, asynchronous=request.param == "async")
    yield clients.make
    await clients.aclose()


@pytest.fixture
def adapter(make_client):
    return mistral_client_adapter(mistral=make_client())
