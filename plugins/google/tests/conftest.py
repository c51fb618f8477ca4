import pytest
from supercompat.testing.loopback import SDKClients
from supercompat_google import google_client_adapter
from supercompat_google.testing import FakeGeminiProvider


@pytest.fixture
def fake():
    with FakeGeminiProvider(models=("gemini-2.5-flash", "test-model")) as provider:
        yield provider


@pytest.fixture(params=["sync", "async"])
async def make_client(request, fake):
    """Builds real google-genai clients pointed at the fake: a ``genai.Client`` or its ``.aio``."""
    clients = SDKClients(fake, asynchronous=request.param == "async")
    yield clients.make
    await clients.aclose()


@pytest.fixture
def adapter(make_client):
    return google_client_adapter(google=make_client())
