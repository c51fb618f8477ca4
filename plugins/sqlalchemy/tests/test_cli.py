"""`supercompat db upgrade`, the demo's SQLite default and the [storage] section."""


from supercompat import from_config
from supercompat.cli import main
from supercompat.loop import run_sync
from supercompat.storage import ListQuery
from supercompat.testing import app_of
from supercompat_sqlalchemy.testing import scratch_database


def test_db_upgrade_migrates_once(capsys):
    with scratch_database("sqlite") as url:
        assert main(["db", "upgrade", "--url", url]) == 0
        assert capsys.readouterr().out.endswith("schema upgraded from nothing to revision 0008.\n")
        assert main(["db", "upgrade", "--url", url]) == 0
        assert capsys.readouterr().out.endswith("schema already at revision 0008.\n")


def test_db_upgrade_reports_an_unreachable_database_in_one_line(capsys):
    assert main(["db", "upgrade", "--url", "postgresql://u:secret@127.0.0.1:1/db"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("supercompat: The database at postgresql+asyncpg://u:***@127.0.0.1:1/db is unavailable")
    assert err.count("\n") == 1 and "secret" not in err


def test_db_upgrade_takes_the_storage_of_a_config(tmp_path, capsys):
    with scratch_database("sqlite") as url:
        config = tmp_path / "supercompat.toml"
        config.write_text(f'[storage]\nplugin = "sqlalchemy"\nurl = "{url}"\npool_timeout = 5\n')
        assert main(["db", "upgrade", "--config", str(config)]) == 0
        assert "to revision 0008" in capsys.readouterr().out
        client = from_config(config)
        a = client.beta.assistants.create(model="m", name="kept")
        storage = app_of(client).storage
        assert run_sync(storage.get_assistant(a.id))["name"] == "kept"
        run_sync(storage.close())


def test_unknown_storage_options_are_named(tmp_path, capsys):
    config = tmp_path / "supercompat.toml"
    config.write_text('[storage]\nplugin = "sqlalchemy"\npool_sise = 5\n')
    assert main(["db", "upgrade", "--config", str(config)]) == 2
    assert "pool_sise" in capsys.readouterr().err


def test_the_demo_keeps_its_state_in_sqlite(tmp_path, capsys, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "storage    sqlite+aiosqlite:///supercompat-demo.db" in out and "-> completed" in out
    assert (tmp_path / "supercompat-demo.db").stat().st_size > 0
    from supercompat_sqlalchemy import sqlalchemy_storage_adapter

    storage = sqlalchemy_storage_adapter(f"sqlite:///{tmp_path / 'supercompat-demo.db'}")
    [assistant] = run_sync(storage.list_assistants(ListQuery())).data
    assert assistant["name"] == "Weather helper"
    run_sync(storage.close())
