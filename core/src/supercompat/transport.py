"""SupercompatTransport: answers the openai SDK's HTTP requests in process, sync and async.

Both directions hand the request to the app on the core loop (see ``_loop``); event streams are
pumped from that loop to the caller chunk by chunk, so SSE arrives as it is produced. Closing the
response stops the pump and frees the stream; a run keeps going, as on OpenAI.
"""

from __future__ import annotations

import asyncio
import queue
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx2

from . import _loop
from .router import Request, Response

if TYPE_CHECKING:
    from .app import App

_END = object()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _to_request(request: httpx2.Request, body: bytes) -> Request:
    url = request.url
    return Request(
        method=request.method,
        path=url.path,
        query_string=url.query.decode() if isinstance(url.query, bytes) else str(url.query),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )


async def _pump(chunks: AsyncIterator[bytes], deliver: Any) -> None:
    try:
        async for chunk in chunks:
            deliver(chunk)
    except asyncio.CancelledError:
        raise
    except BaseException as e:  # the router guards streams; this is a last resort
        deliver(_Failure(e))
    finally:
        deliver(_END)
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class _Pumped:
    """A response body fed from the core loop. The pump starts within the request's own call to the
    core loop (see ``SupercompatTransport._serve``), so a stream's first events are already waiting
    when the caller gets its response, without a second trip to the loop."""

    _task: asyncio.Task[None] | None = None

    def _deliver(self, item: Any) -> None:
        raise NotImplementedError

    def start(self, chunks: AsyncIterator[bytes]) -> None:  # on the core loop
        self._task = asyncio.get_running_loop().create_task(_pump(chunks, self._deliver))

    def _stop(self) -> None:  # from any thread
        task = self._task
        if task is not None:
            task.get_loop().call_soon_threadsafe(task.cancel)


class _SyncStream(_Pumped, httpx2.SyncByteStream):
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._deliver = self._queue.put  # type: ignore[method-assign]

    def __iter__(self) -> Iterator[bytes]:
        get = self._queue.get
        while True:
            item = get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise httpx2.ReadError(str(item.exc)) from item.exc
            yield item

    def close(self) -> None:
        self._stop()


class _AsyncStream(_Pumped, httpx2.AsyncByteStream):
    """Chunks cross from the core loop to the caller's in a deque. The caller's loop is woken once
    per burst, not once per chunk: a run's events come in bursts, and each wake-up is a write to the
    loop's self-pipe and a hand-over of the GIL between the two threads."""

    def __init__(self) -> None:
        self._caller = asyncio.get_running_loop()
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._wake_pending = False

    def _deliver(self, item: Any) -> None:  # on the core loop
        self._items.append(item)
        if self._wake_pending:
            return  # a wake-up is on its way: the reader takes this item with the others
        self._wake_pending = True
        try:
            self._caller.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the caller's loop is gone: nobody is listening any more
            if self._task is not None:
                self._task.cancel()

    def _wake(self) -> None:  # on the caller's loop
        self._wake_pending = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        items = self._items
        while True:
            while items:
                item = items.popleft()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise httpx2.ReadError(str(item.exc)) from item.exc
                yield item
            self._waiter = asyncio.get_running_loop().create_future()
            if not items:  # else an item arrived meanwhile, its wake-up still on its way
                await self._waiter

    async def aclose(self) -> None:
        self._stop()


def _to_response(resp: Response, stream: httpx2.SyncByteStream | httpx2.AsyncByteStream | None,
                 request: httpx2.Request) -> httpx2.Response:
    if stream is not None:
        return httpx2.Response(resp.status, headers=resp.headers, stream=stream, request=request)
    return httpx2.Response(resp.status, headers=resp.headers, content=resp.body, request=request)


class SupercompatTransport(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """One transport object serves ``httpx2.Client`` and ``httpx2.AsyncClient`` alike."""

    def __init__(self, app: "App") -> None:
        self.app = app

    async def _serve(self, request: Request, body: _Pumped) -> Response:
        resp = await self.app.handle(request)
        if resp.stream is not None:
            body.start(resp.stream)
        return resp

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = _SyncStream()
        resp = _loop.run_sync(self._serve(_to_request(request, request.read()), body))
        return _to_response(resp, body if resp.stream is not None else None, request)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = _AsyncStream()
        resp = await _loop.run_async(self._serve(_to_request(request, await request.aread()), body))
        return _to_response(resp, body if resp.stream is not None else None, request)

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass
