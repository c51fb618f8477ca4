"""What every conformance kit shares (supercompat.testing.kit): a subclass keeps the kit's tests or
marks its replacements xfail with a reason, the kit modules import without pytest, and a kit's
failing assertion shows the values it compared."""

from __future__ import annotations

import importlib
import inspect
import json
import pathlib
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import supercompat.testing
from supercompat.testing.kit import POLICE, Kit

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted(f"supercompat.testing.{m.name}" for m in pkgutil.iter_modules(supercompat.testing.__path__))
NO_PYTEST = "import sys; sys.modules['pytest'] = sys.modules['_pytest'] = None  # as if not installed\n"


def kits() -> list[type]:
    """Every kit in supercompat.testing: the classes there made ``standard``."""
    found = {cls for name in MODULES for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass)
             if cls.__module__ == name and vars(cls).get("_kit_standard")}
    return sorted(found, key=lambda cls: cls.__name__)


KITS = kits()


def test_every_class_of_tests_in_supercompat_testing_is_a_kit_and_exported():
    test_classes = {cls.__name__ for name in MODULES
                    for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass)
                    if cls.__module__ == name and cls.__name__.endswith("Tests")}
    assert test_classes == {k.__name__ for k in KITS}
    assert len(KITS) >= 7
    for kit in KITS:
        assert getattr(supercompat.testing, kit.__name__) is kit
        assert kit.__name__ in supercompat.testing.__all__


def subclass(kit: type, **namespace) -> type:
    """A subclass of ``kit`` as a test module would write it (not collected: no Test prefix)."""
    return type(f"My{kit.__name__}", (kit,), namespace)


def police(cls: type) -> None:
    getattr(cls(), POLICE)()


def first_test(kit: type) -> str:
    return min(name for name in dir(kit) if name.startswith("test_") and name != POLICE)


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.__name__)
def test_a_subclass_keeping_every_test_passes(kit):
    police(subclass(kit, test_of_my_own=lambda self: None))


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.__name__)
def test_a_test_replaced_without_an_xfail_reason_fails(kit):
    name = first_test(kit)

    def replacement(self):
        pass

    with pytest.raises(AssertionError, match=rf"replaced without .*My{kit.__name__}\.{name}"):
        police(subclass(kit, **{name: replacement}))
    with pytest.raises(AssertionError, match="replaced without"):
        police(subclass(kit, **{name: pytest.mark.xfail(replacement)}))  # xfail, but no reason
    with pytest.raises(AssertionError, match="replaced without"):
        police(subclass(kit, **{name: pytest.mark.skip(reason="not mine")(replacement)}))


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.__name__)
def test_a_test_replaced_with_an_xfail_reason_passes(kit):
    @pytest.mark.xfail(reason="this store can't do it yet")
    def replacement(self):
        pass

    police(subclass(kit, **{first_test(kit): replacement}))


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.__name__)
def test_a_dropped_test_fails(kit):
    with pytest.raises(AssertionError, match=rf"dropped: .*{first_test(kit)}"):
        police(subclass(kit, **{first_test(kit): None}))


def test_a_replacement_in_an_intermediate_base_is_found():
    from supercompat.testing import StorageAdapterTests

    name = first_test(StorageAdapterTests)
    base = subclass(StorageAdapterTests, **{name: lambda self: None})
    leaf = type("Leaf", (base,), {})
    with pytest.raises(AssertionError, match=rf"MyStorageAdapterTests\.{name}"):
        police(leaf)


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.__name__)
def test_the_check_itself_cannot_be_replaced(kit):
    with pytest.raises(TypeError, match=POLICE):
        subclass(kit, **{POLICE: lambda self: None})


def test_the_check_needs_a_kit():
    with pytest.raises(AssertionError, match="subclasses no conformance kit"):
        police(type("Loose", (Kit,), {}))


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_the_kit_modules_import_without_pytest():
    code = NO_PYTEST + textwrap.dedent("""
        import importlib, json
        import supercompat.testing as testing
        from supercompat.testing.storage import make_message, make_thread

        modules = json.loads(sys.argv[1])
        for name in modules:
            importlib.import_module(name)
        kits = [getattr(testing, name) for name in testing._KITS]
        thread = make_thread()
        assert make_message(thread["id"])["thread_id"] == thread["id"]
        try:
            type("TestMine", (kits[0],), {})
        except ImportError as e:
            print("subclassing:", e)
        print(json.dumps({"kits": len(kits), "pytest": sys.modules["pytest"] is not None}))
    """)
    done = run_python(code, json.dumps(MODULES))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[-1]) == {"kits": len(KITS), "pytest": False}
    assert lines[0].startswith("subclassing: the supercompat conformance kits need pytest")


def test_the_list_scaling_benchmark_runs_without_pytest():
    code = NO_PYTEST + textwrap.dedent("""
        import runpy
        bench = sys.argv[1]
        sys.path.insert(0, bench)  # as `python bench/list_scaling.py` has it
        sys.argv = ["list_scaling.py", "--sizes", "25", "--repeat", "1"]
        runpy.run_path(f"{bench}/list_scaling.py", run_name="__main__")
    """)
    done = run_python(code, str(ROOT / "bench"))
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert (row["storage"], row["size"]) == ("memory", 25)


KIT_USER = '''
import pytest

from supercompat.runs import TextDelta, TurnEnd
from supercompat.testing import RunAdapterTests


class Rainy:
    """A run adapter that answers "Rainy." whatever it is asked."""

    async def run_turn(self, ctx):
        yield TextDelta("Rainy.")
        yield TurnEnd("stop")


class TestRainy(RunAdapterTests):
    @pytest.fixture
    def run_adapter(self):
        return Rainy()


class TestReplacing(RunAdapterTests):
    @pytest.fixture
    def run_adapter(self):
        return Rainy()

    def test_text_run(self, run_adapter):
        pass


class TestReplacingWithAReason(TestReplacing):
    @pytest.mark.xfail(reason="Rainy answers one thing", strict=True)
    def test_text_run(self, run_adapter):
        raise AssertionError("not sunny")
'''


def test_under_pytest_a_kit_polices_its_subclasses_and_its_assertions_show_their_values(tmp_path):
    (tmp_path / "test_kit_user.py").write_text(KIT_USER)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
                           "-rA", "-k", f"test_text_run or {POLICE}", "test_kit_user.py"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = done.stdout
    outcomes = {line.split()[1].split("::", 1)[1]: line.split()[0] for line in out.splitlines()
                if line.split()[:1] and line.split()[0] in ("PASSED", "FAILED", "XFAIL", "ERROR")}
    assert outcomes == {
        f"TestRainy::{POLICE}": "PASSED",
        "TestRainy::test_text_run": "FAILED",
        f"TestReplacing::{POLICE}": "FAILED",
        "TestReplacing::test_text_run": "PASSED",
        f"TestReplacingWithAReason::{POLICE}": "PASSED",
        "TestReplacingWithAReason::test_text_run": "XFAIL",
    }, out
    assert "assert 'Rainy.' == 'It is sunny.'" in out  # rewritten: the kit's comparison, with its values
    assert "TestReplacing.test_text_run" in out
