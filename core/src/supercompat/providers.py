"""The provider shell: what every client plugin over a provider's SDK shares.

A client plugin subclasses :class:`ProviderAdapter` (or :class:`GenericPostAdapter`, for SDKs whose
clients have a generic ``post()``) and declares only what differs between providers: its SDK client
types, the translation (request out, answers and stream events back) and an :class:`ErrorTable`. Its
package names the adapter through :class:`LazyAdapter`, so that the SDK is imported only once the
adapter is chosen. The shell owns the rest, once for every provider:

- sync-or-async detection of the SDK client it is given (``is_async``);
- "await, else run in a worker thread": a sync SDK client's calls and streams run through
  :func:`~supercompat.clients.call_in_thread` / :func:`~supercompat.clients.iterate_in_thread`;
- stream bridging, closing the provider's response when the consumer stops early;
- ownership: ``aclose()`` closes the SDK client only if the adapter created it (``from_options``);
- ``after_fork()``: the SDK's pooled connections are the parent's (see
  :func:`~supercompat.clients.forget_pooled_connections`);
- mapping SDK exceptions to :class:`~supercompat.errors.APIError` through the error table;
- the plugin package's lazy import of its adapter (and so of the SDK): :class:`LazyAdapter`.

docs/plugins.md shows a whole plugin; ``plugins/_template`` is one to copy.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing, suppress
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, cast

import httpx2

from ._threads import call_in_thread, iterate_in_thread
from .clients import ClientOptions, forget_pooled_connections, map_model
from .errors import APIError, BadGateway, ConfigError, provider_timeout, provider_unreachable

__all__ = ["ErrorTable", "GenericPostAdapter", "LazyAdapter", "ProviderAdapter", "call_arguments", "every_item",
           "read_in_task", "timed_out", "unreachable", "unreadable"]


# -- errors ---------------------------------------------------------------------------------------

def timed_out(exc: BaseException) -> APIError:
    """504 ``timeout``: the provider did not answer in time (we are a gateway)."""
    return provider_timeout()


def unreachable(exc: BaseException) -> APIError:
    """502 ``connection_error``: the provider could not be reached, or the connection broke."""
    return provider_unreachable(exc)


def unreadable(exc: BaseException) -> APIError:
    """502: the provider answered something that can't be read."""
    return BadGateway(f"The model provider sent a response that can't be read: {exc}")


Mapper = Callable[[Any], APIError]

# After every plugin's own rows: what an SDK may let through from its HTTP stack or JSON decoding.
_TRANSPORT_ROWS: tuple[tuple[Any, Mapper], ...] = (
    (httpx2.TimeoutException, timed_out),  # before TransportError, its base class
    (httpx2.TransportError, unreachable),
    (json.JSONDecodeError, unreadable),
)


class ErrorTable:
    """A provider SDK's exceptions as :class:`~supercompat.errors.APIError`, and the context manager
    that raises them: ``with table: <SDK calls>``.

    ``rows`` are ``(exception type or tuple of types, mapper)`` pairs, the first that matches wins;
    ``mapper(exc)`` returns the APIError (with the OpenAI status, type and code a client of OpenAI
    expects). httpx2 timeouts (504), transport errors (502) and JSON that can't be decoded (502)
    follow the plugin's rows. An APIError (ours, raised by the translation) and anything that isn't
    an ``Exception`` (cancellation, a generator closing) pass through unchanged; so does an
    exception no row matches."""

    def __init__(self, *rows: tuple[Any, Mapper]) -> None:
        self.rows = (*rows, *_TRANSPORT_ROWS)

    def map(self, exc: BaseException) -> APIError | None:
        """The APIError for ``exc``, or None if no row matches."""
        for kinds, mapper in self.rows:
            if isinstance(exc, kinds):
                return mapper(exc)
        return None

    def __enter__(self) -> None:
        return None

    # Literal[False]: it never swallows an exception (it raises the mapped one, or lets it pass).
    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, APIError):
            return False
        mapped = self.map(exc)
        if mapped is not None:
            raise mapped from exc
        return False


# -- translation ----------------------------------------------------------------------------------

def call_arguments(call: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments of a chat-completions tool call (``{"id", "function": {"name", "arguments"}}``)
    as the JSON object providers take (``{}`` for none), or None when they are not one (each provider's
    translation says so in its own terms)."""
    try:
        arguments = json.loads(call["function"].get("arguments") or "{}")
    except ValueError:
        return None
    return arguments if isinstance(arguments, dict) else None


# -- streams --------------------------------------------------------------------------------------

async def read_in_task(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """An SDK's async stream that is no async context manager, read by a task of its own so that
    stopping early cancels the read in flight. Some SDKs nest async generators that a plain
    ``aclose()`` leaves suspended, holding the HTTP response open until a garbage collection; a
    cancelled read unwinds them all. (No backpressure: a model turn is small.)"""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in items:
                queue.put_nowait((True, item))
        except Exception as exc:  # handed to the consumer, raised there
            queue.put_nowait((False, exc))
        else:
            queue.put_nowait((False, None))

    task = asyncio.create_task(pump())
    try:
        while True:
            more, item = await queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def every_item(pages: Any) -> Any:
    """Every item of an SDK's paginated list (a ``fetch_models`` returns this): a list, from a sync
    pager; an awaitable of the list, from an async pager or an awaitable of one."""
    if hasattr(pages, "__aiter__") or inspect.isawaitable(pages):
        return _every_item(pages)
    return list(pages)


async def _every_item(pages: Any) -> list[Any]:
    if not hasattr(pages, "__aiter__"):  # an awaitable of the pager
        pages = await pages
    return [item async for item in pages]


def _closing(events: Any) -> tuple[Any, Any]:
    """The stream to iterate and the context manager that closes it on any exit."""
    if hasattr(events, "__aenter__"):  # the SDK's own stream object closes its HTTP response
        return events, events
    events = read_in_task(events)
    return events, aclosing(events)


# -- the shell ------------------------------------------------------------------------------------

class ProviderAdapter:
    """A :class:`~supercompat.clients.ClientAdapter` over a provider SDK's client, sync or async.

    A subclass declares:

    - ``plugin``: the name it registers (``plugin = "<name>"``), also the keyword its factory takes;
    - ``client_types``: ``(sync type, async type)`` of the SDK clients it accepts, and ``accepts``,
      how an error names them (or override :meth:`detect_async`);
    - ``errors``: its :class:`ErrorTable`;
    - the translation: :meth:`request`, :meth:`complete`, :meth:`completion`, :meth:`open_stream`,
      :meth:`stream_translator`, :meth:`fetch_models` and :meth:`models`;
    - for ``from_options``: :meth:`open_client` (and ``config_errors``, :meth:`adapter_settings`).

    The SDK hooks (``complete``, ``open_stream``, ``fetch_models``) take the SDK client as their
    first argument and are written once for both kinds: given an async client they return an
    awaitable; given a sync one they are called in a worker thread and return the value.

    A client passed in stays the caller's: ``aclose()`` closes only one the adapter created
    (``owns_client``)."""

    plugin: ClassVar[str]
    client_types: ClassVar[tuple[type, type]]
    accepts: ClassVar[str] = "the provider's SDK client"
    errors: ClassVar[ErrorTable] = ErrorTable()
    config_errors: ClassVar[tuple[type[Exception], ...]] = ()  # what the SDK's constructor raises for bad settings

    def __init__(self, client: Any, model_map: dict[str, str] | None = None, *, owns_client: bool = False) -> None:
        self.is_async = self.detect_async(client)
        self.client = client
        self.model_map = dict(model_map or {})
        self.owns_client = owns_client

    # -- what subclasses declare --------------------------------------------------------------
    def detect_async(self, client: Any) -> bool:
        """Whether ``client`` is the SDK's async client (its calls are awaited) rather than its sync
        one (run in worker threads); a TypeError for anything else."""
        sync_type, async_type = self.client_types
        if isinstance(client, async_type):
            return True
        if isinstance(client, sync_type):
            return False
        raise TypeError(f"{self.plugin}= takes {self.accepts}, not {type(client).__name__}")

    def request(self, params: dict[str, Any], stream: bool) -> Any:
        """The provider's request for a chat-completions body (``self.model(params)``: its model)."""
        raise NotImplementedError

    def complete(self, client: Any, request: Any) -> Any:
        """The SDK call that answers ``request`` whole."""
        raise NotImplementedError

    def completion(self, response: Any, params: dict[str, Any], request: Any) -> dict[str, Any]:
        """The provider's answer to ``request`` (made from ``params``) as a ``ChatCompletion`` dict."""
        raise NotImplementedError

    def open_stream(self, client: Any, request: Any) -> Any:
        """The SDK call that streams the answer to ``request``: its events, an iterator (sync client)
        or an async iterator or an awaitable of one (async client). A stream that is an async context
        manager is closed through it; any other async iterator is read by a task of its own (see
        :func:`read_in_task`); a sync iterator's ``close()`` is called."""
        raise NotImplementedError

    def stream_translator(self, params: dict[str, Any], request: Any) -> Any:
        """A fresh translator for the stream of ``request`` (made from ``params``): ``chunks(event)``
        returns the ``ChatCompletionChunk`` dicts of one provider event (any number), and an
        optional ``end()`` those sent once the events have ended."""
        raise NotImplementedError

    def fetch_models(self, client: Any) -> Any:
        """The SDK call that lists the provider's models."""
        raise NotImplementedError

    def models(self, listed: Any) -> list[dict[str, Any]]:
        """What ``fetch_models`` returned, as OpenAI model objects (``model_map`` aliases not added)."""
        raise NotImplementedError

    @classmethod
    def open_client(cls, options: Any) -> Any:
        """The SDK client ``from_options`` builds (an async one); raise :meth:`config_error` for
        settings that can't work."""
        raise NotImplementedError

    @classmethod
    def adapter_settings(cls, options: Any) -> dict[str, Any]:
        """Keyword arguments of the subclass's constructor taken from ``options``."""
        return {}

    def http_clients(self) -> Iterable[Any]:
        """The SDK's HTTP clients, whose pooled connections ``after_fork`` forgets."""
        return (getattr(self.client, "_client", None),)

    async def close_client(self) -> None:
        """Close the SDK client (``aclose()`` calls this only for one the adapter created)."""
        close = getattr(self.client, "aclose", None) or self.client.close
        closed = close()
        if inspect.isawaitable(closed):
            await closed

    def async_client(self) -> Any:
        """The client to await, or None to run ``self.client`` in worker threads."""
        return self.client if self.is_async else None

    # -- helpers for subclasses ---------------------------------------------------------------
    def model(self, params: dict[str, Any]) -> str:
        """The provider's name for the requested model (``model_map`` applied)."""
        return map_model(self.model_map, params["model"])

    @classmethod
    def config_error(cls, message: str) -> ConfigError:
        return ConfigError(f'[client] plugin "{cls.plugin}": {message}')

    @classmethod
    def open_client_for(cls, section: str, options: Any) -> Any:
        """``open_client`` for the options of another section over the same provider (an
        ``[embedder]``), its configuration errors naming ``[section]``."""
        named = f'[{section}] plugin "{cls.plugin}": '
        try:
            return cls.open_client(options)
        except cls.config_errors as exc:
            raise ConfigError(named + str(exc)) from exc
        except ConfigError as exc:  # from config_error, naming [client]
            raise ConfigError(named + str(exc).removeprefix(str(cls.config_error("")))) from exc

    @staticmethod
    def given(options: ClientOptions, *names: str) -> dict[str, Any]:
        """The options among ``names`` that are set (not None), for an SDK constructor's keywords:
        what is unset keeps the SDK's default."""
        return {name: value for name in names if (value := getattr(options, name)) is not None}

    async def call(self, hook: Callable[..., Any], *args: Any) -> Any:
        """``hook(client, *args)``: awaited on the async client, else in a worker thread."""
        client = self.async_client()
        if client is not None:
            return await hook(client, *args)
        return await call_in_thread(hook, self.client, *args)

    # -- the ClientAdapter --------------------------------------------------------------------
    @classmethod
    def from_options(cls, options: Any) -> Self:
        """The adapter a configuration builds: over an SDK client of its own (``open_client``),
        closed by ``aclose()``."""
        try:
            client = cls.open_client(options)
        except cls.config_errors as exc:  # typically: no key given and none in the environment
            raise cls.config_error(str(exc)) from exc
        return cls(client, options.model_map, owns_client=True, **cls.adapter_settings(options))

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        request = self.request(params, stream=False)
        with self.errors:
            return self.completion(await self.call(self.complete, request), params, request)

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        request = self.request(params, stream=True)
        translator = self.stream_translator(params, request)
        chunks = translator.chunks
        with self.errors:
            if (client := self.async_client()) is not None:
                opened = self.open_stream(client, request)
                events, closing = _closing(await opened if inspect.isawaitable(opened) else opened)
            else:
                events = iterate_in_thread(lambda: self.open_stream(self.client, request))
                closing = aclosing(events)
            async with closing:  # closing the response on any early exit aborts the provider call
                async for event in events:
                    for chunk in chunks(event):
                        yield chunk
        end = getattr(translator, "end", None)
        if end is not None:
            for chunk in end():
                yield chunk

    async def list_models(self) -> list[dict[str, Any]]:
        with self.errors:
            return self.models(await self.call(self.fetch_models))

    def after_fork(self) -> None:
        """In a forked child (called by the App): the SDK's pooled connections are the parent's."""
        for http_client in self.http_clients():
            forget_pooled_connections(http_client)

    async def aclose(self) -> None:
        """Close the SDK client if this adapter created it (from configuration); a client passed in
        by the caller stays the caller's to close."""
        if self.owns_client:
            await self.close_client()


class GenericPostAdapter(ProviderAdapter):
    """The SDK hooks ``complete`` and ``open_stream`` for an SDK whose clients have the generic
    ``post(path, body=, cast_to=, stream=, stream_cls=)`` of Stainless-generated SDKs (openai,
    anthropic). With ``cast_to=object`` the SDK keeps its auth, retries, SSE decoding and error events
    but builds no pydantic model per chunk (most of its per-chunk cost): the provider's JSON arrives
    as plain dicts, with the fields and event types the SDK doesn't know yet.

    A subclass sets ``path`` (the endpoint, as the SDK's ``base_url`` continues it) and
    ``stream_types``, the SDK's ``(Stream, AsyncStream)`` classes; ``client_types[1]`` tells which a
    client streams with."""

    path: ClassVar[str]
    stream_types: ClassVar[tuple[Any, Any]]

    def complete(self, client: Any, body: Any) -> Any:
        return client.post(self.path, body=body, cast_to=object)

    def open_stream(self, client: Any, body: Any) -> Any:
        sync_stream, async_stream = self.stream_types
        stream = async_stream if isinstance(client, self.client_types[1]) else sync_stream
        return client.post(self.path, body=body, cast_to=object, stream=True, stream_cls=stream[object])


# -- the plugin package ---------------------------------------------------------------------------

A = TypeVar("A", bound=ProviderAdapter)


class LazyAdapter(Generic[A]):
    """A client plugin's adapter class, ``<package>.adapter.<name>``, imported when first used: that
    module imports the provider's SDK, which the plugin's package (loaded with every installed plugin)
    must not import until its adapter is chosen. In the package's ``__init__.py``::

        _adapter: LazyAdapter[AcmeClientAdapter] = LazyAdapter(__name__, "AcmeClientAdapter")
        __getattr__ = _adapter.module_getattr             # supercompat_acme.AcmeClientAdapter

        def acme_client_adapter(acme, model_map=None) -> AcmeClientAdapter:
            return _adapter(acme, model_map)              # the class, called

        @hookimpl
        def register_client_adapters(register):
            register("acme", _adapter.from_options, AcmeOptions)
    """

    def __init__(self, package: str, name: str) -> None:
        self.module, self.name = f"{package}.adapter", name

    def load(self) -> type[A]:
        """The class (its module, and the SDK, imported now)."""
        return cast("type[A]", getattr(importlib.import_module(self.module), self.name))

    def __call__(self, *args: Any, **kwargs: Any) -> A:
        """An adapter: the class called with these arguments."""
        return self.load()(*args, **kwargs)

    def from_options(self, options: Any) -> A:
        """The factory the hook registers: the class's ``from_options``."""
        return self.load().from_options(options)

    def module_getattr(self, name: str) -> Any:
        """The package's module ``__getattr__``: the class under its name, imported on first access."""
        if name == self.name:
            return self.load()
        raise AttributeError(f"module {self.module.rpartition('.')[0]!r} has no attribute {name!r}")
