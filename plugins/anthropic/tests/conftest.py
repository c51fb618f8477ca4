import pytest
from supercompat.testing.loopback import SDKClients
from supercompat_anthropic import anthropic_client_adapter
from supercompat_anthropic.testing import FakeAnthropicProvider


@pytest.fixture
def fake():
    with FakeAnthropicProvider() as provider:
        yield provider


@pytest.fixture(params=["sync", "async"])
async def make_client(request, fake):
    """Builds real anthropic SDK clients, sync or async per the parameter, pointed at the fake."""
    clients = SDKClients(fake, asynchronous=request.param == "async")
    yield clients.make
    await clients.aclose()


@pytest.fixture
def adapter(make_client):
    return anthropic_client_adapter(anthropic=make_client())
