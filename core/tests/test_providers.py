"""supercompat.providers: the provider shell's error table, ownership and sync/async bridging, on a
minimal adapter over plain objects (the plugins' kits check it against real SDKs)."""

import json
import sys
import threading

import httpx2
import pytest

from supercompat.clients import ClientOptions
from supercompat.errors import APIError, ConfigError
from supercompat.providers import ErrorTable, ProviderAdapter, every_item


class Teapot(Exception):
    pass


class SyncSDK:
    def __init__(self):
        self.closed = False
        self.threads = set()

    def close(self):
        self.closed = True

    def answer(self, text):
        self.threads.add(threading.get_ident())
        return text

    def events(self, text):
        self.threads.add(threading.get_ident())
        yield from text.split()


class AsyncSDK(SyncSDK):
    async def aclose(self):
        self.closed = True

    async def answer(self, text):
        return text

    async def events(self, text):
        for word in text.split():
            yield word


class Words:
    def chunks(self, word):
        return ({"choices": [{"index": 0, "delta": {"content": word}}]},)

    def end(self):
        return ({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},)


class EchoAdapter(ProviderAdapter):
    plugin = "echo"
    client_types = (SyncSDK, AsyncSDK)
    accepts = "a SyncSDK or AsyncSDK"
    config_errors = (KeyError,)
    errors = ErrorTable((Teapot, lambda exc: APIError(f"teapot: {exc}", status=418)))

    @classmethod
    def open_client(cls, options):
        if options.api_key is None:
            raise KeyError("api_key")
        return AsyncSDK()

    def request(self, params, stream):
        return params["messages"][-1]["content"]

    def complete(self, client, text):
        if text == "fail":
            raise Teapot("short and stout")
        return client.answer(text)

    def completion(self, response, params, request):
        return {"model": self.model(params), "text": response}

    def open_stream(self, client, text):
        return client.events(text)

    def stream_translator(self, params, request):
        return Words()


def params(text):
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


@pytest.mark.parametrize("sdk", [SyncSDK, AsyncSDK])
async def test_sync_clients_run_in_worker_threads_and_async_ones_are_awaited(sdk):
    client = sdk()
    adapter = EchoAdapter(client, {"m": "provider-m"})
    assert adapter.is_async is (sdk is AsyncSDK)
    assert await adapter.chat_completions(params("hi")) == {"model": "provider-m", "text": "hi"}
    chunks = [c async for c in adapter.chat_completions_stream(params("a b"))]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["a", "b", None]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert bool(client.threads) is not adapter.is_async, "only a sync client's calls run in threads"
    assert threading.get_ident() not in client.threads


async def test_the_error_table_maps_sdk_errors_and_lets_ours_through():
    adapter = EchoAdapter(AsyncSDK())
    with pytest.raises(APIError) as info:
        await adapter.chat_completions(params("fail"))
    assert (info.value.status, info.value.message) == (418, "teapot: short and stout")
    assert isinstance(info.value.__cause__, Teapot)
    table = ErrorTable()
    for exc, status, code in [(httpx2.ReadTimeout("slow"), 504, "timeout"),
                              (httpx2.ConnectError("refused"), 502, "connection_error"),
                              (json.JSONDecodeError("bad", "x", 0), 502, None)]:
        mapped = table.map(exc)
        assert (mapped.status, mapped.code) == (status, code)
    ours = APIError("ours", status=400)
    with pytest.raises(APIError) as info:
        with table:
            raise ours
    assert info.value is ours
    with pytest.raises(ValueError):  # no row: unchanged
        with table:
            raise ValueError("mine")


def test_a_client_that_is_not_the_sdks_is_a_type_error():
    with pytest.raises(TypeError, match="echo= takes a SyncSDK or AsyncSDK, not object"):
        EchoAdapter(object())


async def test_aclose_closes_only_a_client_the_adapter_made():
    given = AsyncSDK()
    await EchoAdapter(given).aclose()
    assert not given.closed
    from supercompat.clients import ClientOptions

    made = EchoAdapter.from_options(ClientOptions(api_key="k", model_map={"a": "b"}))
    assert made.owns_client and made.model_map == {"a": "b"}
    await made.aclose()
    assert made.client.closed
    with pytest.raises(ConfigError, match='plugin "echo"'):
        EchoAdapter.from_options(ClientOptions())


async def test_leaving_a_stream_early_closes_the_sdks_iterator():
    class Closing(AsyncSDK):
        closed_stream = False

        def events(self, text):
            sdk = self

            class Stream:
                def __aiter__(self):
                    return self

                async def __anext__(self):
                    return "word"

                async def __aenter__(self):
                    return self

                async def __aexit__(self, *exc):
                    sdk.closed_stream = True

            return Stream()

    client = Closing()
    stream = EchoAdapter(client).chat_completions_stream(params("x"))
    await anext(stream)
    await stream.aclose()
    assert client.closed_stream


def test_a_lazy_adapter_imports_the_adapter_module_only_when_used(tmp_path, monkeypatch):
    (tmp_path / "heavy_sdk.py").write_text("class Client: ...\nclass AsyncClient: ...\n")
    package = tmp_path / "lazy_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from supercompat.providers import LazyAdapter\n"
        "_adapter = LazyAdapter(__name__, 'LazyClientAdapter')\n"
        "__getattr__ = _adapter.module_getattr\n")
    (package / "adapter.py").write_text(
        "import heavy_sdk\n"
        "from supercompat.providers import ProviderAdapter\n"
        "class LazyClientAdapter(ProviderAdapter):\n"
        "    plugin = 'lazy'\n"
        "    client_types = (heavy_sdk.Client, heavy_sdk.AsyncClient)\n"
        "    @classmethod\n"
        "    def open_client(cls, options):\n"
        "        return heavy_sdk.AsyncClient()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("lazy_plugin", "lazy_plugin.adapter", "heavy_sdk"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import lazy_plugin

    assert "heavy_sdk" not in sys.modules, "importing the plugin's package imported its SDK"
    with pytest.raises(AttributeError, match="module 'lazy_plugin' has no attribute 'Other'"):
        lazy_plugin.Other  # noqa: B018
    import heavy_sdk

    adapter = lazy_plugin._adapter(heavy_sdk.Client(), {"m": "n"})
    assert type(adapter) is lazy_plugin.LazyClientAdapter and not adapter.is_async
    assert adapter.model_map == {"m": "n"}
    from supercompat.clients import ClientOptions

    made = lazy_plugin._adapter.from_options(ClientOptions(api_key="k"))
    assert isinstance(made, lazy_plugin.LazyClientAdapter) and made.is_async and made.owns_client


async def test_every_item_reads_sync_and_async_pagers():
    assert every_item(iter([1, 2, 3])) == [1, 2, 3]

    async def items():
        for item in (1, 2, 3):
            yield item

    async def pager():  # an awaitable of an async pager, as google-genai's async lists are
        return items()

    assert await every_item(items()) == [1, 2, 3]
    assert await every_item(pager()) == [1, 2, 3]


class StrictEchoAdapter(EchoAdapter):
    @classmethod
    def open_client(cls, options):
        if options.api_key == "bad":
            raise cls.config_error("that key can't be right")
        return super().open_client(options)


@pytest.mark.parametrize("api_key, message", [(None, "'api_key'"), ("bad", "that key can't be right")])
def test_a_client_opened_for_another_section_names_it_in_its_errors(api_key, message):
    # An [embedder] over the same provider as a [client] opens its client the same way.
    with pytest.raises(ConfigError) as raised:
        StrictEchoAdapter.open_client_for("embedder", ClientOptions(api_key=api_key))
    assert str(raised.value) == f'[embedder] plugin "echo": {message}'
    assert isinstance(StrictEchoAdapter.open_client_for("embedder", ClientOptions(api_key="k")), AsyncSDK)
