"""Entry-point discovery with the real installed fixture plugin (tests/fixtures/supercompat-fixture)."""

from __future__ import annotations

import importlib.metadata

import pytest

from supercompat import hookimpl, plugins
from supercompat.errors import ConfigError


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch):
    monkeypatch.delenv("SUPERCOMPAT_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("SUPERCOMPAT_DISABLE_PLUGINS", raising=False)
    plugins.reset()
    yield
    plugins.reset()


def test_fixture_plugin_is_installed():
    names = [ep.name for ep in importlib.metadata.entry_points(group="supercompat")]
    assert "supercompat-fixture" in names, "install tests/fixtures/supercompat-fixture (tox does)"


def test_register_client_adapters_through_entry_point():
    spec = plugins.get_adapter_spec("client", "fixture-echo")
    assert spec.plugin == "supercompat-fixture"
    adapter = spec.build({"greeting": "hi", "api_key": "k"})
    assert adapter.options.greeting == "hi" and adapter.options.api_key == "k"


def test_register_storage_adapters_through_entry_point():
    assert plugins.get_adapter_spec("storage", "fixture-memory").plugin == "supercompat-fixture"
    assert plugins.get_adapter_spec("storage", "memory").plugin == "supercompat"


def test_register_run_adapters_through_entry_point():
    spec = plugins.get_adapter_spec("run", "fixture-run")
    assert spec.plugin == "supercompat-fixture" and spec.build() == "fixture-run-adapter"


def test_register_blob_stores_through_entry_point(tmp_path):
    from supercompat.app import App
    from supercompat.blobs import MemoryBlobStore
    from supercompat.config import load_adapters

    spec = plugins.get_adapter_spec("blob", "fixture-blobs")
    assert spec.plugin == "supercompat-fixture" and plugins.get_adapter_spec("blob", "memory").plugin == "supercompat"
    config = tmp_path / "supercompat.toml"
    config.write_text('[blob]\nplugin = "fixture-blobs"\nlabel = "mine"\n')
    adapters = load_adapters(config)
    store = adapters["blob_store"]
    assert store.options.label == "mine"
    app = App(**adapters)
    assert app.blobs is store and store.app is app  # the App wires what it was given
    config.write_text('[blob]\nplugin = "fixture-blobs"\nlabl = "typo"\n')
    with pytest.raises(ConfigError, match="Unknown option 'labl'"):
        load_adapters(config)
    config.write_text('[blob]\nplugin = "nowhere"\n')
    with pytest.raises(ConfigError, match="Unknown blob adapter 'nowhere'"):
        load_adapters(config)
    config.write_text("")
    assert load_adapters(config)["blob_store"] is None
    assert isinstance(App().blobs, MemoryBlobStore)  # the default beside memory storage


def test_an_app_takes_its_storage_adapters_default_blob_store():
    from supercompat.app import App
    from supercompat.blobs import MemoryBlobStore
    from supercompat.storage.memory import MemoryStorageAdapter

    chosen = MemoryBlobStore()

    class Storage(MemoryStorageAdapter):
        def default_blob_store(self):
            return chosen

    assert App(storage_adapter=Storage()).blobs is chosen
    given = MemoryBlobStore()
    assert App(storage_adapter=Storage(), blob_store=given).blobs is given


def test_register_tools_through_entry_point():
    from supercompat.app import App

    registered = plugins.tool_registry()
    assert {k: plugin for k, (_, plugin) in registered.items()} == {
        "fixture_tool": "supercompat-fixture", "fixture_shared": "supercompat-fixture", "file_search": "supercompat",
        "code_interpreter": "supercompat"}
    first, second = App(), App()
    assert set(first.tools) == {"fixture_tool", "fixture_shared", "file_search", "code_interpreter"}
    assert first.tools["fixture_tool"] is not second.tools["fixture_tool"]  # a factory builds one per App
    assert first.tools["fixture_shared"] is second.tools["fixture_shared"]  # an instance is shared
    assert App(tools=[]).tools == {}


def test_disable_list_blocks_a_plugin(monkeypatch):
    monkeypatch.setenv("SUPERCOMPAT_DISABLE_PLUGINS", "supercompat-fixture")
    with pytest.raises(ConfigError) as info:
        plugins.get_adapter_spec("client", "fixture-echo")
    installed = ", ".join(sorted(plugins.registry()["client"]))
    assert "scripted" in installed and "fixture-echo" not in installed
    assert str(info.value) == (f"Unknown client adapter 'fixture-echo'. Installed client adapters: {installed}. "
                               "To add it: pip install supercompat-fixture-echo")
    assert plugins.get_plugin_manager().get_plugin("supercompat-fixture") is None


def test_load_list_loads_only_what_it_names(monkeypatch):
    monkeypatch.setenv("SUPERCOMPAT_LOAD_PLUGINS", "")
    assert "fixture-memory" not in plugins.registry()["storage"]
    plugins.reset()
    monkeypatch.setenv("SUPERCOMPAT_LOAD_PLUGINS", "supercompat-fixture")
    assert "fixture-memory" in plugins.registry()["storage"]


def test_unknown_adapter_lists_what_is_installed():
    with pytest.raises(ConfigError) as info:
        plugins.get_adapter_spec("storage", "redis")
    assert str(info.value) == ("Unknown storage adapter 'redis'. Installed storage adapters: fixture-memory, "
                               "memory. To add it: pip install supercompat-redis")


def test_duplicate_names_fail_naming_both_registrants():
    class Impostor:
        @hookimpl
        def register_client_adapters(self, register):
            register("fixture-echo", lambda options: None)

    plugins.get_plugin_manager().register(Impostor(), name="impostor")
    with pytest.raises(ConfigError) as info:
        plugins.registry()
    assert str(info.value) == ("Client adapter 'fixture-echo' is registered by both 'supercompat-fixture' "
                               "and 'impostor'.")


def test_hook_implementations_are_checked_against_the_specs():
    class Misspelled:
        @hookimpl
        def register_client_adapters(self, register, surprise):
            pass

    with pytest.raises(Exception, match="surprise"):
        plugins.get_plugin_manager().register(Misspelled(), name="misspelled")


def test_one_tool_type_registered_twice_fails_naming_both_registrants():
    class Impostor:
        @hookimpl
        def register_tools(self, register):
            register("fixture_tool", lambda: None)

    plugins.get_plugin_manager().register(Impostor(), name="impostor")
    with pytest.raises(ConfigError) as info:
        plugins.tool_registry()
    assert str(info.value) == "Tool 'fixture_tool' is registered by both 'supercompat-fixture' and 'impostor'."


def test_an_app_takes_one_executor_per_tool_type():
    from supercompat.app import App
    from supercompat.testing.tools import LookupTool

    for tools in ([LookupTool(), LookupTool()], [type("Fn", (), {"type": "function"})()]):
        with pytest.raises(ConfigError):
            App(tools=tools)


def test_the_scripted_adapter_lives_in_core_and_its_former_testing_path_still_imports():
    import supercompat.scripted as scripted
    import supercompat.testing as testing
    import supercompat.testing.scripted as former

    assert former.scripted_client_adapter is scripted.scripted_client_adapter
    assert testing.Reply is scripted.Reply and testing.ScriptedClientAdapter is scripted.ScriptedClientAdapter
    from supercompat.plugins import registry

    adapter = registry()["client"]["scripted"].build({"replies": ["hi"]})
    assert isinstance(adapter, scripted.ScriptedClientAdapter)
