"""AssistantsContractTests with Google Gemini behind it, through the real google-genai SDK (a sync
``genai.Client`` and its ``.aio`` async client) against the loopback fake Gemini; and what reached
Gemini, from the recorded requests."""

from __future__ import annotations

import pytest

from supercompat.testing import AssistantsContractTests, Reply
from supercompat.testing.contract import WEATHER, call

genai = pytest.importorskip("google.genai")
from google.genai import types  # noqa: E402
from supercompat_google import google_client_adapter  # noqa: E402
from supercompat_google.testing import FakeGeminiProvider, ScriptedFakeGemini  # noqa: E402


@pytest.fixture(scope="module")
def fake_gemini():
    with FakeGeminiProvider(models=("test-model", "gemini-2.5-flash")) as fake:
        yield fake


class TestGoogle(AssistantsContractTests):
    @pytest.fixture(params=["sync-provider", "async-provider"])
    async def scripted_provider(self, request, fake_gemini):
        fake_gemini.reset()
        sdk = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=fake_gemini.base_url))
        given = sdk if request.param == "sync-provider" else sdk.aio
        yield ScriptedFakeGemini(fake_gemini, google_client_adapter(google=given))
        sdk.close()
        await sdk.aio.aclose()
