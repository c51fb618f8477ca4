"""Keep hooks, tests and docs in lockstep: a new hook needs a test and a documented section whose
heading is its signature, read from the hookspec itself."""

from __future__ import annotations

import inspect
import pathlib
import re

import pytest

from supercompat import hookspecs

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "supercompat_spec")]


def test_there_are_eight_hooks():
    assert sorted(HOOKS) == ["register_blob_stores", "register_chunk_indexes", "register_client_adapters",
                             "register_embedders", "register_run_adapters", "register_sandboxes",
                             "register_storage_adapters", "register_tools"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "\n".join(p.read_text() for p in (ROOT / "core" / "tests").glob("test_*.py")
                      if p.name != "test_meta.py")
    assert f"def test_{hook}" in tests


def documented_signature(hook: str) -> str:
    """``name(arg, ...)``: the heading of the hook's section in docs/plugins.md."""
    return f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"


def headings() -> list[str]:
    text = re.sub(r"^```.*?^```", "", (ROOT / "docs" / "plugins.md").read_text(), flags=re.M | re.S)  # not code
    return re.findall(r"^#+ (.+?)\s*$", text, flags=re.M)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    assert documented_signature(hook) in headings()
    assert documented_signature(hook) == f"{hook}(register)"  # each hook gets one ``register`` callable


def test_every_documented_hook_is_a_hook_with_that_signature():
    documented = [h for h in headings() if re.fullmatch(r"\w+\(.*\)", h)]
    assert sorted(documented) == sorted(documented_signature(hook) for hook in HOOKS)


def slug(heading: str) -> str:
    """A heading's anchor, as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def relative_links() -> list[tuple[pathlib.Path, str, str]]:
    """``(page, target path, anchor)`` of every relative link in the docs and the plugins' READMEs."""
    pages = [*(ROOT / "docs").rglob("*.md"), *(ROOT / "plugins").glob("*/README.md"), ROOT / "README.md"]
    found = []
    for page in pages:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
        for target, anchor in re.findall(r"\]\(([^)\s:#]*)(?:#([^)\s]+))?\)", text):
            found.append((page, target, anchor))
    return found


def test_relative_links_in_the_docs_and_readmes_resolve():
    broken = []
    for page, target, anchor in relative_links():
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{page.relative_to(ROOT)}: {target}")
        elif anchor and path.suffix == ".md":
            text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
            if anchor not in {slug(h) for h in re.findall(r"^#+ (.+?)\s*$", text, flags=re.M)}:
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}")
    assert not broken, f"links to nowhere: {broken}"
