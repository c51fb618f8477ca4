"""AssistantsContractTests with Claude behind it: the anthropic adapter through the real anthropic SDK
(sync and async provider clients) against the loopback fake Anthropic provider, plus recorded
provider requests that show how runs are translated to the Messages API."""

from __future__ import annotations

import anthropic
import pytest

from supercompat.testing import AssistantsContractTests
from supercompat_anthropic import anthropic_client_adapter
from supercompat_anthropic.testing import FakeAnthropicProvider, ScriptedFakeAnthropic


@pytest.fixture(scope="module")
def fake_anthropic():
    with FakeAnthropicProvider() as fake:
        yield fake


class TestAnthropic(AssistantsContractTests):
    @pytest.fixture(params=["sync-provider", "async-provider"])
    async def scripted_provider(self, request, fake_anthropic):
        fake_anthropic.reset()
        options = {"base_url": fake_anthropic.base_url, "api_key": "test", "max_retries": 0}
        sdk = anthropic.Anthropic(**options) if request.param == "sync-provider" else anthropic.AsyncAnthropic(**options)
        yield ScriptedFakeAnthropic(fake_anthropic, anthropic_client_adapter(anthropic=sdk))
        if isinstance(sdk, anthropic.AsyncAnthropic):
            from supercompat._loop import run_async

            await run_async(sdk.close())  # its connections live on supercompat's loop
        else:
            sdk.close()
