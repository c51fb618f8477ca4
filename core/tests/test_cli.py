from supercompat.cli import main


def test_demo_runs_the_full_flow_offline(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # where the demo's SQLite file goes, if supercompat-sqlalchemy is installed
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "provider   scripted" in out
    assert "tool call  get_weather" in out and "-> completed" in out
    assert "run steps: message_creation (completed), tool_calls (completed), message_creation (completed)" in out


def test_plugins_lists_adapters_by_kind(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "client adapters:" in out and "scripted" in out and "memory" in out and "completions" in out
    assert "built-in tools:\n  code_interpreter supercompat" in out  # core's, then what plugins register
    assert "  file_search      supercompat" in out.split("built-in tools:")[1]
    assert "  fixture_shared   supercompat-fixture" in out.split("built-in tools:")[1]


def test_config_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[client]\nplugin = "nope"\n')
    assert main(["demo", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("supercompat: Unknown client adapter 'nope'.") and err.count("\n") == 1
