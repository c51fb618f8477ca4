"""What every loopback fake provider shares: an HTTP server on 127.0.0.1 in a daemon thread, recorded
requests, a queue of scripted answers, disconnect counting and HTTP/1.1 plumbing (JSON bodies,
chunked SSE streams, dropped connections). A fake for one provider subclasses :class:`LoopbackProvider`
and :class:`LoopbackHandler` with nothing but that provider's routes, wire format and checks;
:class:`Scripted` turns it into the conformance kits' ``scripted_provider``, :class:`SDKClients`
builds (and later closes) real SDK clients pointed at it, and :func:`provider_fixtures` gives a
plugin's tests their ``fake``, ``make_client`` and ``adapter`` fixtures. docs/testing.md has a
worked example.
"""

from __future__ import annotations

import inspect
import json
import socket
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# Statuses some providers send that http.HTTPStatus does not know.
_PHRASES = {529: "Overloaded"}


@dataclass
class Hang:
    """Wait ``seconds`` before answering (with ``then``, or the default answer); ``stop()`` ends the wait."""

    seconds: float = 30.0
    then: Any = None


# The scenarios every fake plays in its provider's wire format (beside :class:`Hang` and the
# conformance kits' Reply): the ways an answer breaks on the wire.
@dataclass
class Garbled:
    """An answer that can't be read: a stream with an event that is not JSON (after ``after`` words,
    where the fake's format lets it say so), or a body that isn't JSON."""

    after: int = 2


@dataclass
class Truncated:
    """A stream that stops after ``after`` words (where the fake's format lets it say how many),
    before its finish. ``clean=False``: the connection drops instead of the body ending properly,
    where the fake supports it (non-streaming: the body is cut halfway)."""

    after: int = 2
    clean: bool = True


class LoopbackProvider:
    """A fake provider on ``host``:``port`` (0: a free port), started by ``start()`` or ``with``.

    Subclasses set ``handler`` (a :class:`LoopbackHandler` subclass that answers requests) and
    ``name`` (the server thread's), and implement ``default_answer``, ``text_answer`` (what a ``str``
    given to ``script`` stands for) and ``sdk_client``. ``record=False`` keeps no request log, for
    long benchmark runs.

    Settings every fake honours (its handler's part): ``api_key``, the only key it accepts (None:
    any), answering another as its provider refuses a key; ``stream_delay``, seconds to
    :meth:`pause` between the pieces of a stream (:meth:`between_pieces`)."""

    handler: type[LoopbackHandler]
    name = "fake-provider"
    keep_query = False  # whether request paths, recorded and routed, keep their query string
    api_key: str | None = None
    stream_delay: float = 0.0

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, record: bool = True) -> None:
        self.host, self.port, self.record = host, port, record
        self.disconnects = 0  # answers the client went away from before they ended
        self._lock = threading.Lock()
        self._script: deque[Any] = deque()
        self._requests: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # lifecycle
    def start(self) -> Self:
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self.handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        # A short poll interval so that stop() returns promptly (serve_forever checks for it between polls).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self.name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()  # wakes Hang and the delays
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise pin their threads
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's root, ``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    # scripting and inspection
    def script(self, *answers: Any) -> None:
        """Queue answers, consumed in order by the requests that ask for one; then the default again."""
        with self._lock:
            self._script.extend(answers)

    def reset(self) -> None:
        """Forget queued answers, recorded requests and counters."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self.disconnects = 0

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received, oldest first: ``method``, ``path``, ``headers`` (lower-case names),
        ``body`` (parsed JSON, or None)."""
        with self._lock:
            return list(self._requests)

    # for subclasses
    def next_answer(self) -> Any:
        """The next scripted answer, or None."""
        with self._lock:
            return self._script.popleft() if self._script else None

    def settle(self, answer: Any, body: Any) -> Any:
        """What to answer: a :class:`Hang` waited out, then None replaced by the default answer and a
        ``str`` by a text answer."""
        if isinstance(answer, Hang):
            self.pause(answer.seconds)
            answer = answer.then
        if answer is None:
            return self.default_answer(body)
        return self.text_answer(answer) if isinstance(answer, str) else answer

    def default_answer(self, body: Any) -> Any:
        raise NotImplementedError

    def text_answer(self, text: str) -> Any:
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        """Wait, but no longer than until ``stop()``."""
        self._stopping.wait(seconds)

    def between_pieces(self) -> None:
        """For a handler, between two pieces of a stream: wait ``stream_delay``, if set."""
        if self.stream_delay:
            self.pause(self.stream_delay)

    def sdk_client(self, asynchronous: bool, **options: Any) -> tuple[Any, list[Any]]:
        """A real SDK client pointed at this fake, and the objects to close when done with it."""
        raise NotImplementedError

    def _note(self, request: dict[str, Any], raw: bytes) -> None:
        """Record a request as it arrives (``raw``: its body's bytes)."""
        if self.record:
            with self._lock:
                self._requests.append(request)

    def _disconnected(self) -> None:
        with self._lock:
            self.disconnects += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # the default of 5 drops connects when 50 clients arrive at once
    fake: LoopbackProvider

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client closing a keep-alive connection is no error
            super().handle_error(request, client_address)


class LoopbackHandler(BaseHTTPRequestHandler):
    """Reads each request, records it and hands it to ``route``; the ``send*`` methods write answers.
    A client that goes away mid-answer is counted in the fake's ``disconnects``."""

    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    @property
    def fake(self) -> Any:
        return self.server.fake

    def route(self, request: dict[str, Any]) -> None:
        """Answer ``request`` (``method``, ``path``, ``headers``, ``body``) with the ``send*`` methods."""
        raise NotImplementedError

    def response_headers(self) -> dict[str, str]:
        """Headers every answer carries (a request id, as the provider sends one)."""
        return {}

    # plumbing: one write per JSON answer and per stream frame
    def head(self, status: int, headers: dict[str, str]) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = _PHRASES.get(status, "Error")
        lines = [f"HTTP/1.1 {status} {phrase}", *(f"{k}: {v}" for k, v in {**self.response_headers(),
                                                                            **headers}.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def send(self, status: int, data: bytes, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> None:
        head = self.head(status, {"Content-Type": content_type, "Content-Length": str(len(data)),
                                  **(headers or {})})
        self.wfile.write(head + data)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
        self.send(status, json.dumps(payload, separators=(",", ":")).encode(), content_type, headers)

    def start_stream(self, content_type: str = "text/event-stream; charset=utf-8") -> None:
        self.wfile.write(self.head(200, {"Content-Type": content_type, "Transfer-Encoding": "chunked",
                                         "Cache-Control": "no-cache"}))

    def send_chunk(self, frame: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def drop(self) -> None:
        """End the connection abruptly, without finishing the answer."""
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # the request cycle
    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.request)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.request)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path if self.fake.keep_query else self.path.split("?", 1)[0]
        request = {"method": self.command, "path": path, "body": body,
                   "headers": {k.lower(): v for k, v in self.headers.items()}}
        self.fake._note(request, raw)
        try:
            self.route(request)
        except OSError:  # the client went away mid-answer
            self.fake._disconnected()
            self.close_connection = True


class Scripted:
    """The conformance kits' ``scripted_provider`` over a loopback fake: ``.adapter`` (the adapter under
    test, talking to ``fake``), ``.script(*Reply)`` and ``.fail(status, message)``. Subclasses say how a
    supercompat ``Reply`` looks in their provider's terms (``answer``) and which scripted answer fails a
    request (``failure(status, message)``, or their own ``error``)."""

    failure: Callable[[int, str], Any]

    def __init__(self, fake: LoopbackProvider, adapter: Any) -> None:
        self.fake, self.adapter = fake, adapter

    @classmethod
    def fixture(cls) -> Any:
        """The client kit's ``scripted_provider`` fixture: this class over the ``fake`` and ``adapter``
        fixtures of :func:`provider_fixtures`.

            class TestAcmeClientAdapter(ClientAdapterTests):
                scripted_provider = ScriptedFakeAcme.fixture()
        """
        import pytest  # only where the fixture is wanted

        @pytest.fixture
        def scripted_provider(self: Any, fake: LoopbackProvider, adapter: Any) -> Scripted:
            return cls(fake, adapter)

        return scripted_provider

    def script(self, *replies: Any) -> None:
        self.fake.script(*map(self.answer, replies))

    def fail(self, status: int, message: str) -> None:
        self.fake.script(self.error(status, message))

    def answer(self, reply: Any) -> Any:
        """The fake's scripted answer that plays ``reply`` (as is, for a fake that reads Replies itself)."""
        return reply

    def error(self, status: int, message: str) -> Any:
        return self.failure(status, message)

    @staticmethod
    def object_calls(reply: Any) -> list[tuple[str, Any]]:
        """The reply's tool calls with their arguments as objects, for providers that send them so."""
        return [(name, json.loads(args) if isinstance(args, str) else args) for name, args in reply.tool_calls]


class SDKClients:
    """Real SDK clients pointed at a fake, all sync or all async: ``make(**options)`` builds one through
    the fake's ``sdk_client``; ``await aclose()`` closes them all. ``close_with`` runs each async close,
    e.g. ``supercompat.loop.run_async`` for clients whose connections live on supercompat's loop."""

    def __init__(self, fake: LoopbackProvider, asynchronous: bool,
                 close_with: Callable[[Awaitable[Any]], Awaitable[Any]] | None = None) -> None:
        self.fake, self.asynchronous, self.close_with = fake, asynchronous, close_with
        self._closeables: list[Any] = []

    def make(self, **options: Any) -> Any:
        client, closeables = self.fake.sdk_client(self.asynchronous, **options)
        self._closeables += closeables
        return client

    async def aclose(self) -> None:
        for closeable in self._closeables:
            closed = (getattr(closeable, "aclose", None) or closeable.close)()
            if inspect.isawaitable(closed):
                await (self.close_with(closed) if self.close_with else closed)
        self._closeables.clear()


def sdk_clients(asynchronous: bool) -> Any:
    """A ``make_client`` fixture of one kind only (as :func:`provider_fixtures`' for both), for a class
    whose tests need not run on both: the async SDK clients behind a served App, say."""
    import pytest

    @pytest.fixture
    async def make_client(self: Any, fake: LoopbackProvider) -> Any:
        clients = SDKClients(fake, asynchronous=asynchronous)
        yield clients.make
        await clients.aclose()

    return make_client


def provider_fixtures(make_fake: Callable[[], LoopbackProvider],
                      make_adapter: Callable[[Any], Any]) -> tuple[Any, ...]:
    """The fixtures a plugin's tests share, for its ``conftest.py``: ``fake`` (a started fake from
    ``make_fake()``, one per test), ``make_client(**options)`` (real SDK clients on it, sync or async
    per the fixture's parameter, closed after the test) and ``adapter`` (``make_adapter(client)``).

        fake, make_client, adapter = provider_fixtures(FakeAcmeProvider,
                                                       lambda sdk: acme_client_adapter(acme=sdk))
    """
    import pytest  # only where the fixtures are wanted: the fakes themselves run without pytest

    @pytest.fixture
    def fake() -> Any:
        with make_fake() as provider:
            yield provider

    @pytest.fixture(params=["sync", "async"])
    async def make_client(request: Any, fake: LoopbackProvider) -> Any:
        clients = SDKClients(fake, asynchronous=request.param == "async")
        yield clients.make
        await clients.aclose()

    @pytest.fixture
    def adapter(make_client: Any) -> Any:
        return make_adapter(make_client())

    return fake, make_client, adapter
