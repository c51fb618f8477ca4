"""ProviderFailureTests: what a client adapter does when the way to its provider fails, checked
through the provider's real SDK against a loopback fake of it.

Subclass it where ``provider_fixtures`` gives your tests ``fake``, ``make_client`` and ``adapter``
(see :mod:`supercompat.testing.loopback`), and provide:

- ``adapter_with_timeout(make_client, seconds)``: your adapter over an SDK client from
  ``make_client`` that gives up after ``seconds`` (only your plugin knows its SDK's option).

The other hooks default to the settings and scenarios every loopback fake shares; override one
where your fake differs:

- ``stream_slowly(fake)``: make the fake pause between the pieces of the streams it sends (by
  default it sets ``fake.stream_delay``);
- ``refuse_key(fake)``: make the fake refuse the key its SDK clients send (by default it sets
  ``fake.api_key`` to another key);
- the fake's answers that break the wire (None skips the test): ``garbled()`` (a body that isn't
  JSON, streamed or not; by default :class:`~supercompat.testing.loopback.Garbled`), ``truncated()``
  (a stream that ends cleanly before its finish; by default
  :class:`~supercompat.testing.loopback.Truncated`) and ``dropped()`` (the connection dropped in the
  middle of an answer; by default None, as not every fake can: ``Truncated(clean=False)`` where it
  can).

Messages differ from provider to provider: the tests check status, type and code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..errors import APIError
from .clients import collect, finish_reasons, request
from .kit import Kit, mark, pytest
from .loopback import Garbled, Hang, Truncated

STREAM = mark.parametrize("stream", [False, True], ids=["create", "stream"])


async def answer(adapter: Any, stream: bool) -> Any:
    """A completion, or the chunks of a stream, for the kit's request."""
    return await (collect(adapter, request()) if stream else adapter.chat_completions(request()))


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(500):  # a bound, not a timing goal: fails only if it never happens
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def failure(call: Any) -> APIError:
    with pytest.raises(APIError) as info:
        await call
    return info.value


class ProviderFailureTests(Kit, standard=True):
    # hooks (see the module docstring)
    def adapter_with_timeout(self, make_client: Any, seconds: float) -> Any:  # pragma: no cover
        raise NotImplementedError("provide adapter_with_timeout(make_client, seconds)")

    def stream_slowly(self, fake: Any) -> None:
        fake.stream_delay = 0.02

    def refuse_key(self, fake: Any) -> None:
        fake.api_key = "another-key"

    def garbled(self) -> Any:
        return Garbled()

    def truncated(self) -> Any:
        return Truncated()

    def dropped(self) -> Any:
        return None

    # helpers
    def scripted(self, fake: Any, builder: Callable[[], Any]) -> None:
        scripted = builder()
        if scripted is None:
            pytest.skip(f"the fake has no {builder.__name__} answer")
        fake.script(scripted)

    def long_slow_stream(self, adapter: Any, fake: Any) -> Any:
        """A stream from ``adapter`` that is still being sent when the consumer leaves."""
        self.stream_slowly(fake)
        fake.script(" ".join(["word"] * 200))
        return adapter.chat_completions_stream(request())

    # the tests
    @STREAM
    async def test_timeout_is_504(self, make_client: Any, fake: Any, stream: bool) -> None:
        adapter = self.adapter_with_timeout(make_client, 0.2)
        fake.script(Hang(30))
        e = await failure(answer(adapter, stream))
        assert (e.status, e.type, e.code) == (504, "server_error", "timeout")

    @STREAM
    async def test_unreachable_provider_is_502(self, adapter: Any, fake: Any, stream: bool) -> None:
        fake.stop()  # nobody listens on its port any more
        e = await failure(answer(adapter, stream))
        assert (e.status, e.type, e.code) == (502, "server_error", "connection_error")

    async def test_a_refused_key_is_401(self, adapter: Any, fake: Any) -> None:
        self.refuse_key(fake)
        e = await failure(adapter.chat_completions(request()))
        assert (e.status, e.type, e.code) == (401, "invalid_request_error", "invalid_api_key")  # as OpenAI says it

    @STREAM
    async def test_garbled_response_is_502(self, adapter: Any, fake: Any, stream: bool) -> None:
        self.scripted(fake, self.garbled)
        e = await failure(answer(adapter, stream))
        assert (e.status, e.type) == (502, "server_error")

    async def test_truncated_stream_ends_without_finish_reason(self, adapter: Any, fake: Any) -> None:
        self.scripted(fake, self.truncated)
        chunks = await answer(adapter, stream=True)
        assert any((c.get("delta") or {}).get("content") for chunk in chunks for c in chunk["choices"])
        assert finish_reasons(chunks) == []

    @STREAM
    async def test_dropped_connection_is_502(self, adapter: Any, fake: Any, stream: bool) -> None:
        self.scripted(fake, self.dropped)
        e = await failure(answer(adapter, stream))
        assert (e.status, e.type) == (502, "server_error")

    async def test_closing_the_stream_early_aborts_the_provider_call(self, adapter: Any, fake: Any) -> None:
        stream = self.long_slow_stream(adapter, fake)
        await anext(stream)
        await anext(stream)
        await stream.aclose()
        await wait_for(lambda: fake.disconnects == 1)

    async def test_cancelling_the_consumer_aborts_the_provider_call(self, adapter: Any, fake: Any) -> None:
        stream = self.long_slow_stream(adapter, fake)
        started = asyncio.Event()

        async def consume() -> None:
            async for _ in stream:
                started.set()

        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for(lambda: fake.disconnects == 1)
