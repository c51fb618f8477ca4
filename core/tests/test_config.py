from __future__ import annotations

import openai
import pytest

from supercompat import async_from_config, from_config, plugins
from supercompat.config import load_adapters
from supercompat.errors import ConfigError
from supercompat.storage.memory import MemoryStorageAdapter


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch):
    monkeypatch.delenv("SUPERCOMPAT_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("SUPERCOMPAT_DISABLE_PLUGINS", raising=False)
    plugins.reset()


def write(tmp_path, text):
    path = tmp_path / "supercompat.toml"
    path.write_text(text)
    return path


def test_sections_build_the_adapters(tmp_path, monkeypatch):
    monkeypatch.setenv("ECHO_KEY", "secret")
    path = write(tmp_path, """
[client]
plugin = "fixture-echo"
api_key = { env = "ECHO_KEY" }
greeting = "hey"
model_map = { "gpt-4.1-mini" = "echo-1" }

[storage]
plugin = "fixture-memory"
label = "x"
""")
    adapters = load_adapters(path)
    client = adapters["client_adapter"]
    assert (client.options.api_key, client.options.greeting) == ("secret", "hey")
    assert client.options.model_map == {"gpt-4.1-mini": "echo-1"}
    assert adapters["storage_adapter"].options.label == "x"


def test_from_config_builds_a_working_client(tmp_path, monkeypatch):
    path = write(tmp_path, '[storage]\nplugin = "memory"\n')
    client = from_config(path)
    assert isinstance(client, openai.OpenAI)
    assert client.beta.assistants.create(model="m").object == "assistant"
    monkeypatch.setenv("SUPERCOMPAT_CONFIG", str(path))
    assert isinstance(async_from_config(), openai.AsyncOpenAI)


def test_the_scripted_client_answers_with_configured_texts_and_tool_calls(tmp_path):
    path = write(tmp_path, '[client]\nplugin = "scripted"\nreplies = [\n'
                           '  { text = "Checking.", tool_calls = [\n'
                           '    { name = "get_weather", arguments = { city = "Paris" } }] },\n'
                           '  "Sunny.",\n]\n')
    client = from_config(path)
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    assistant = client.beta.assistants.create(model="m", tools=[tool])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "18 C"}])
    assert client.beta.threads.messages.list(thread_id=thread.id).data[0].content[0].text.value == "Sunny."
    with pytest.raises(ConfigError, match="tool_calls"):
        load_adapters(write(tmp_path, '[client]\nplugin = "scripted"\nreplies = [{ tool_calls = [{ nom = "x" }] }]\n'))


def test_storage_defaults_to_memory(tmp_path):
    adapters = load_adapters(write(tmp_path, ""))
    assert isinstance(adapters["storage_adapter"], MemoryStorageAdapter)


def test_missing_environment_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(tmp_path, '[client]\nplugin = "fixture-echo"\napi_key = { env = "NOT_SET_ANYWHERE" }\n')
    with pytest.raises(ConfigError, match=r"^Environment variable NOT_SET_ANYWHERE is not set \(needed by "
                                          r"\[client\]\.api_key\)\.$"):
        load_adapters(path)


def test_unknown_option_is_named(tmp_path):
    path = write(tmp_path, '[client]\nplugin = "fixture-echo"\ngreetnig = "typo"\n')
    with pytest.raises(ConfigError) as info:
        load_adapters(path)
    assert str(info.value).startswith("Unknown option 'greetnig' in [client] (plugin 'fixture-echo'). "
                                      "Valid options: api_key, base_url, model_map, greeting.")


def test_unknown_plugin_lists_installed(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown client adapter 'anthropicc'\. Installed client adapters: "
                                          r".*fixture-echo.*pip install supercompat-anthropicc"):
        load_adapters(write(tmp_path, '[client]\nplugin = "anthropicc"\n'))


def test_unknown_section_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown section \[clients\]"):
        load_adapters(write(tmp_path, '[clients]\nplugin = "x"\n'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_adapters(write(tmp_path, "[client\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_adapters(tmp_path / "missing.toml")


def test_server_section_is_validated(tmp_path, monkeypatch):
    monkeypatch.setenv("SC_KEY", "k1")
    load_adapters(write(tmp_path, '[server]\nport = 9000\napi_keys = [{ env = "SC_KEY" }, "k2"]\n'))
    with pytest.raises(ConfigError, match=r"^Unknown option 'prot' in \[server\]\."):
        load_adapters(write(tmp_path, "[server]\nprot = 9000\n"))


def test_server_api_keys_and_their_projects(tmp_path):
    from supercompat.config import read_config, server_options

    def projects(keys: str) -> dict:
        path = tmp_path / "s.toml"
        path.write_text(f"[server]\napi_keys = {keys}\n")
        return server_options(read_config(path)).key_projects()

    assert projects('["only"]') == {"only": None}  # one plain key: unscoped, like in process
    two = projects('["a", "b"]')
    assert len(set(two.values())) == 2 and None not in two.values() and two == projects('["a", "b"]')
    assert projects('[{ key = "a", project = "p" }, { key = "b", project = "p" }]') == {"a": "p", "b": "p"}
    assert projects('[{ key = "a" }]') == {"a": None}  # a table without a project is a plain key
    with pytest.raises(ConfigError, match="Invalid option 'api_keys.0.key'"):
        projects('[""]')
    with pytest.raises(ConfigError, match=r"Unknown option 'api_keys.0.extra' in \[server\]\.$"):
        projects('[{ key = "a", project = "p", extra = 1 }]')
