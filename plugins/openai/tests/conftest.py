import pytest
from supercompat.testing.fake_openai import FakeOpenAIProvider
from supercompat.testing.loopback import SDKClients
from supercompat_openai import openai_client_adapter


@pytest.fixture
def fake():
    with FakeOpenAIProvider(tokens=5) as provider:
        yield provider


@pytest.fixture(params=["sync", "async"])
async def make_client(request, fake):
    """Builds real openai SDK clients, sync or async per the parameter, pointed at the fake."""
    clients = SDKClients(fake, asynchronous=request.param == "async")
    yield clients.make
    await clients.aclose()


@pytest.fixture
def adapter(make_client):
    return openai_client_adapter(openai=make_client())
