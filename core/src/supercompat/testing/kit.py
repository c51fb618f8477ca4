"""What every conformance kit shares: it polices its subclasses, and it needs pytest only to run.

A subclass that replaces one of its kit's tests (a method of the same name) marks the replacement
``@pytest.mark.xfail(reason="...")``: a test overridden by accident, or dropped (``test_x = None``),
would leave a behaviour unchecked while the suite stays green. ``test_no_overrides_DO_NOT_OVERRIDE``,
which every kit has, fails on either (after langchain's standard tests).

The kit modules import without pytest (the benchmarks use their record builders): a kit writes its
fixtures and marks with :func:`fixture` and :data:`mark` from here, and they become pytest's when a
test class first subclasses the kit; :data:`pytest` here is the module, imported when first used.

    class StorageAdapterTests(Kit, standard=True):
        @fixture
        async def storage_adapter(self): ...

        @mark.parametrize("n", [1, 2])
        async def test_something(self, storage_adapter, n): ...
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
POLICE = "test_no_overrides_DO_NOT_OVERRIDE"
_PENDING = "_kit_pending_decorators"  # on a kit's functions: the pytest decorators still to apply
_STANDARD = "_kit_standard"  # in a kit class's own namespace: it is a kit, not a subclass of one
_READY = "_kit_ready"  # in a kit class's own namespace: its pending decorators were applied


def _import_pytest() -> Any:
    try:
        return importlib.import_module("pytest")
    except ImportError as e:
        raise ImportError("the supercompat conformance kits need pytest and pytest-asyncio to run "
                          "(the `test` extra of supercompat)") from e


class _Pytest:
    """The pytest module, imported when an attribute is first asked for (``pytest.raises`` in a test)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_import_pytest(), name)


if TYPE_CHECKING:
    import pytest as pytest
else:
    pytest = _Pytest()


def _deferred(make: Callable[[], Callable[[Any], Any]]) -> Callable[[F], F]:
    """A decorator that notes ``make()`` (a pytest decorator) on the function, to apply later."""

    def note(fn: F) -> F:
        fn.__dict__.setdefault(_PENDING, []).append(make)
        return fn

    return note


def fixture(fn: F | None = None, **options: Any) -> Any:
    """``pytest.fixture``, bare or with options, for a kit's fixtures."""
    if fn is not None:
        return _deferred(lambda: _import_pytest().fixture)(fn)
    return _deferred(lambda: _import_pytest().fixture(**options))


class _Marks:
    """``pytest.mark``, for a kit's tests: ``mark.parametrize(...)`` and the rest."""

    def __getattr__(self, name: str) -> Callable[..., Callable[[F], F]]:
        def marker(*args: Any, **kwargs: Any) -> Callable[[F], F]:
            return _deferred(lambda: getattr(_import_pytest().mark, name)(*args, **kwargs))

        return marker


mark = _Marks()


def _kits_of(cls: type) -> list[type]:
    return [k for k in cls.__mro__ if vars(k).get(_STANDARD)]


def _make_ready(kit: type) -> None:
    """Apply a kit's noted fixtures and marks, once: from now on its class is what pytest collects."""
    if vars(kit).get(_READY):
        return
    for name, value in list(vars(kit).items()):
        if inspect.isfunction(value) and value.__dict__.get(_PENDING):
            decorated: Any = value
            for make in value.__dict__[_PENDING]:  # in the order they were written, innermost first
                decorated = make()(decorated)
            setattr(kit, name, decorated)
    setattr(kit, _READY, True)


def _xfail_reason(test: Any) -> str:
    marks = getattr(test, "pytestmark", None) or []
    return next((m.kwargs.get("reason") for m in marks if m.name == "xfail" and m.kwargs.get("reason")), "")


class Kit:
    """The base of every conformance kit (``class MyKitTests(Kit, standard=True)``).

    A test class subclassing a kit gets the kit's fixtures and marks made pytest's, and the test
    ``test_no_overrides_DO_NOT_OVERRIDE``, which it may not replace."""

    def __init_subclass__(cls, standard: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if standard:
            setattr(cls, _STANDARD, True)
            return
        if POLICE in vars(cls):
            raise TypeError(f"{cls.__qualname__} replaces {POLICE}, which checks that it keeps its kit's tests")
        for kit in [*_kits_of(cls), cls]:  # the class's own noted fixtures too (``served_client()``)
            _make_ready(kit)

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Every test of the kit runs as the kit wrote it, or its replacement is marked xfail with a reason."""
        cls = type(self)
        kits = _kits_of(cls)
        assert kits, f"{cls.__qualname__} subclasses no conformance kit"
        names = sorted({name for kit in kits for name in dir(kit) if name.startswith("test_") and name != POLICE})
        dropped, unmarked = [], []
        for name in names:
            owner = next(k for k in cls.__mro__ if name in vars(k))
            if owner in kits:
                continue
            where = f"{owner.__qualname__}.{name}"
            value = vars(owner)[name]
            if not callable(value):
                dropped.append(where)
            elif not _xfail_reason(value):
                unmarked.append(where)
        assert not dropped, f"kit tests dropped: {dropped}; keep them, or replace them marked xfail with a reason"
        assert not unmarked, (f"kit tests replaced without @pytest.mark.xfail(reason=...): {unmarked}; "
                              "rename a test of your own, or mark the replacement to say why the kit's fails")
