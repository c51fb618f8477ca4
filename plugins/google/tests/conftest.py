"""``fake`` (the fake Gemini), ``make_client`` (real google-genai clients on it: a ``genai.Client``
or its ``.aio``; keyword arguments are ``HttpOptions`` fields) and ``adapter`` (the google adapter
over one)."""

from supercompat.testing.loopback import provider_fixtures
from supercompat_google import google_client_adapter
from supercompat_google.testing import FakeGeminiProvider

MODELS = ("gemini-2.5-flash", "test-model")

fake, make_client, adapter = provider_fixtures(lambda: FakeGeminiProvider(models=MODELS),
                                               lambda sdk: google_client_adapter(google=sdk))
