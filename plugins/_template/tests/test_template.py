import httpx2
import pytest

from supercompat import plugins
from supercompat.errors import ConfigError
from supercompat.testing.clients import assert_imports_lazily, configured_client_adapter
from supercompat_template import TemplateClientAdapter, template_client_adapter


def test_importing_the_plugin_does_not_import_the_adapter():
    assert_imports_lazily("supercompat_template")  # its SDK, httpx2, core imports anyway


async def test_registered_through_its_entry_point(fake):
    async with configured_client_adapter("template", {
            "api_key": "k", "base_url": fake.url, "timeout": 5, "model_map": {"gpt-4o": "test-model"}}) as adapter:
        assert isinstance(adapter, TemplateClientAdapter)
        completion = await adapter.chat_completions(
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        assert completion["choices"][0]["message"]["content"] == "You said: hi"
    assert adapter.client.is_closed, "a client made from options is the adapter's to close"
    assert fake.requests[-1]["body"]["model"] == "test-model"
    assert fake.requests[-1]["headers"]["authorization"] == "Bearer k"


def test_missing_api_key_is_a_config_error():
    plugins.reset()
    with pytest.raises(ConfigError, match='plugin "template": set api_key'):
        plugins.get_adapter_spec("client", "template").build({})


async def test_echoes_the_last_user_message(adapter):
    params = {"model": "echo", "messages": [{"role": "user", "content": "hi"},
                                            {"role": "assistant", "content": "?"},
                                            {"role": "user", "content": [{"type": "text", "text": "again"}]}]}
    completion = await adapter.chat_completions(params)
    assert completion["choices"][0]["message"]["content"] == "You said: again"
    chunks = [c async for c in adapter.chat_completions_stream(params)]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "You said: again"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_a_client_passed_in_stays_the_callers():
    with httpx2.Client(base_url="http://127.0.0.1:9") as client:
        adapter = template_client_adapter(template=client)
        await adapter.aclose()
        assert not client.is_closed


def test_rejects_what_is_not_its_sdk_client():
    with pytest.raises(TypeError, match="template= takes an httpx2.Client or httpx2.AsyncClient"):
        template_client_adapter(template=object())
