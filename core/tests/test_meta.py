"""Keep hooks, tests and docs in lockstep: a new hook needs a test and a documented section."""

from __future__ import annotations

import inspect
import pathlib

import pytest

from supercompat import hookspecs

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "supercompat_spec")]


def test_there_are_four_hooks():
    assert sorted(HOOKS) == ["register_client_adapters", "register_run_adapters", "register_storage_adapters",
                             "register_tools"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "\n".join(p.read_text() for p in (ROOT / "core" / "tests").glob("test_*.py")
                      if p.name != "test_meta.py")
    assert f"def test_{hook}" in tests


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### {hook}(register)" in docs
