"""SupercompatTransport: answers the openai SDK's HTTP requests in process, sync and async.

Both directions hand the request to the app on the core loop (see ``supercompat.loop``); event streams are
pumped from that loop to the caller chunk by chunk, so SSE arrives as it is produced. Closing the
response stops the pump and frees the stream; a run keeps going, as on OpenAI.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx2

from . import loop as _loop
from .errors import APIError
from .forms import Form, FormReader
from .router import Request, Response, refusal

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("supercompat")
_END = object()
# A response body the reader is slow to take waits on the core loop once this much is queued for it
# (a large download read slowly is never held whole), until the reader is half-way through it.
MAX_BACKLOG_BYTES = 4 * 1024 * 1024


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


def _form_reader(app: App, request: httpx2.Request) -> FormReader | None:
    """A reader for a form streamed to a route that takes one; None: the body is read whole (JSON)."""
    limits = app.router.form_limits(request.method, request.url.path, request.headers)
    return None if limits is None else FormReader(request.headers["content-type"], limits)


def _with_form(request: httpx2.Request, form: Form) -> Request:
    incoming = _to_request(request, b"")
    incoming._form = form
    return incoming


def _read_sync(app: App, request: httpx2.Request) -> Request:
    """The request for the App. A JSON body is whole already (the hot path: no copy); a form streamed
    by the SDK (a file upload) is parsed chunk by chunk, here on the caller's thread, its files
    spooled, so it is never held whole."""
    if isinstance(request.stream, httpx2.ByteStream):
        return _to_request(request, request.read())
    reader = _form_reader(app, request)
    if reader is None:
        return _to_request(request, request.read())
    return _with_form(request, reader.read(request.stream))  # type: ignore[arg-type]


async def _read_async(app: App, request: httpx2.Request) -> Request:
    """``_read_sync`` for the async client, on the caller's loop."""
    if isinstance(request.stream, httpx2.ByteStream):
        return _to_request(request, request.read())
    reader = _form_reader(app, request)
    if reader is None:
        return _to_request(request, await request.aread())
    return _with_form(request, await reader.aread(request.stream))  # type: ignore[arg-type]


async def _pump(chunks: AsyncIterator[bytes], body: _Pumped) -> None:
    deliver = body._deliver
    try:
        async for chunk in chunks:
            deliver(chunk)
            body.queued += len(chunk)
            if body.queued - body.taken > MAX_BACKLOG_BYTES:
                await body.wait_for_reader()
    except asyncio.CancelledError:
        raise
    except BaseException as e:  # event streams are guarded by the router; a byte stream can fail
        log.error("supercompat: a streamed response ended with an error", exc_info=e)
        deliver(_Failure(e))
    finally:
        deliver(_END)
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def _read_timeout(request: httpx2.Request) -> float | None:
    """httpx2's read timeout for ``request`` (None: wait for ever). Over a network it bounds the wait for
    the response and then for each chunk of its body; here too. (No connection, no pool, no write to
    wait for: the other timeouts have nothing to bound in process.)"""
    timeout = request.extensions.get("timeout")
    return timeout.get("read") if isinstance(timeout, dict) else None


def _read_timed_out(request: httpx2.Request, timeout: float | None) -> httpx2.ReadTimeout:
    return httpx2.ReadTimeout(f"supercompat did not answer within the read timeout ({timeout:g} s)",
                              request=request)


class _Pumped:
    """A response body fed from the core loop. The pump starts within the request's own call to the
    core loop (see ``SupercompatTransport._serve``), so a stream's first events are already waiting
    when the caller gets its response, without a second trip to the loop."""

    _task: asyncio.Task[None] | None = None
    _abandoned = False
    # Bytes delivered (written on the core loop only) and taken by the reader (on its thread only).
    queued = 0
    taken = 0
    _drained: asyncio.Event | None = None  # the pump waits on it while the backlog is full

    def _deliver(self, item: Any) -> None:
        raise NotImplementedError

    async def wait_for_reader(self) -> None:  # on the core loop
        drained = self._drained = asyncio.Event()
        if self.queued - self.taken > MAX_BACKLOG_BYTES:  # else the reader caught up meanwhile
            await drained.wait()
        self._drained = None

    def _took(self, chunk: bytes) -> None:  # on the reader's thread
        self.taken += len(chunk)
        drained = self._drained
        if drained is not None and self.queued - self.taken <= MAX_BACKLOG_BYTES // 2:
            self._drained = None
            try:
                self._task.get_loop().call_soon_threadsafe(drained.set)  # type: ignore[union-attr]
            except RuntimeError:  # the core loop is gone (shut down, forked away): nothing to resume
                pass

    def start(self, chunks: AsyncIterator[bytes]) -> None:  # on the core loop
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(_pump(chunks, self))
        if self._abandoned:  # the caller gave up before the response came: close the stream at once
            loop.call_soon(self._task.cancel)  # after the pump's first step, so its cleanup runs

    def _stop(self) -> None:  # from any thread
        task = self._task
        if task is not None:
            task.get_loop().call_soon_threadsafe(task.cancel)

    def abandon(self) -> None:  # from any thread: nobody will read this body, now or when it comes
        self._abandoned = True
        self._stop()


class _SyncStream(_Pumped, httpx2.SyncByteStream):
    def __init__(self, request: httpx2.Request) -> None:
        self._queue = _loop.caller_queue()
        self._deliver = self._queue.put  # type: ignore[method-assign]
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        get = self._queue.get
        timeout = _read_timeout(self._request)
        while True:
            try:
                item = get(timeout=timeout)
            except queue.Empty:
                self.close()  # as a client that times out drops the connection: the stream stops
                raise _read_timed_out(self._request, timeout) from None
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise httpx2.ReadError(str(item.exc)) from item.exc
            self._took(item)
            yield item

    def close(self) -> None:
        self._stop()


class _AsyncStream(_Pumped, httpx2.AsyncByteStream):
    """Chunks cross from the core loop to the caller's in a deque. The caller's loop is woken once
    per burst, not once per chunk: a run's events come in bursts, and each wake-up is a write to the
    loop's self-pipe and a hand-over of the GIL between the two threads."""

    def __init__(self, request: httpx2.Request) -> None:
        self._request = request
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
        timeout = _read_timeout(self._request)
        while True:
            while items:
                item = items.popleft()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise httpx2.ReadError(str(item.exc)) from item.exc
                self._took(item)
                yield item
            self._waiter = asyncio.get_running_loop().create_future()
            if not items:  # else an item arrived meanwhile, its wake-up still on its way
                try:
                    await asyncio.wait_for(self._waiter, timeout)
                except TimeoutError:
                    self._stop()  # as a client that times out drops the connection: the stream stops
                    raise _read_timed_out(self._request, timeout) from None

    async def aclose(self) -> None:
        self._stop()


def _to_response(resp: Response, stream: httpx2.SyncByteStream | httpx2.AsyncByteStream | None,
                 request: httpx2.Request) -> httpx2.Response:
    if stream is not None:
        return httpx2.Response(resp.status, headers=resp.headers, stream=stream, request=request)
    return httpx2.Response(resp.status, headers=resp.headers, content=resp.body, request=request)


class SupercompatTransport(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """One transport object serves ``httpx2.Client`` and ``httpx2.AsyncClient`` alike."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def _serve(self, request: Request, body: _Pumped) -> Response:
        resp = await self.app.handle(request)
        if resp.stream is not None:
            body.start(resp.stream)
        return resp

    # When the caller's read timeout passes first, it gets httpx2.ReadTimeout (the SDK retries, then
    # raises APITimeoutError), and the request is left to finish unwatched, as the server leaves a request
    # whose client hung up: a run it created goes on; a stream it opened is closed, which stops a
    # provider stream (and only unsubscribes from a run's events).
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            incoming = _read_sync(self.app, request)
        except APIError as e:  # the body is refused (too large, malformed) before the App sees it
            return _to_response(refusal(e), None, request)
        body = _SyncStream(request)
        timeout = _read_timeout(request)
        try:
            resp = _loop.run_sync(self._serve(incoming, body), timeout)
        except _loop.Unanswered:
            body.abandon()
            raise _read_timed_out(request, timeout) from None
        return _to_response(resp, body if resp.stream is not None else None, request)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            incoming = await _read_async(self.app, request)
        except APIError as e:
            return _to_response(refusal(e), None, request)
        body = _AsyncStream(request)
        timeout = _read_timeout(request)
        try:
            resp = await _loop.run_async(self._serve(incoming, body), timeout)
        except _loop.Unanswered:
            body.abandon()
            raise _read_timed_out(request, timeout) from None
        return _to_response(resp, body if resp.stream is not None else None, request)

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass
