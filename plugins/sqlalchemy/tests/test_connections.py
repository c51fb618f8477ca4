"""URLs, drivers, unreachable databases and all-or-nothing writes."""

import openai
import pytest

from supercompat import supercompat
from supercompat.errors import ConfigError
from supercompat.testing.storage import make_message, make_run, make_thread
from supercompat_sqlalchemy import StorageUnavailable, async_url, sqlalchemy_storage_adapter


@pytest.mark.parametrize("url, driver", [
    ("sqlite:///x.db", "sqlite+aiosqlite"),
    ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite"),
    ("postgresql://u:p@h/db", "postgresql+asyncpg"),
    ("postgres://u:p@h/db", "postgresql+asyncpg"),
    ("postgresql+psycopg2://u:p@h/db", "postgresql+asyncpg"),
    ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg"),  # psycopg 3 is async already
    ("mysql://u:p@h/db", "mysql+aiomysql"),
    ("mariadb://u:p@h/db", "mysql+aiomysql"),
    ("mysql+pymysql://u:p@h/db", "mysql+aiomysql"),
    ("mysql+asyncmy://u:p@h/db", "mysql+asyncmy"),
])
def test_plain_urls_get_their_async_driver(url, driver):
    assert async_url(url).drivername == driver


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="Not a database URL"):
        sqlalchemy_storage_adapter("not a url")
    with pytest.raises(ConfigError, match="either url=... or engine="):
        sqlalchemy_storage_adapter()


async def test_an_unreachable_database_is_a_503_with_the_password_hidden():
    storage = sqlalchemy_storage_adapter("postgresql://alice:s3cret@127.0.0.1:1/db", connect_timeout=2)
    with pytest.raises(StorageUnavailable) as info:
        await storage.get_thread("thread_x")
    assert info.value.status == 503 and "s3cret" not in info.value.message
    assert info.value.message.startswith("The database at postgresql+asyncpg://alice:***@127.0.0.1:1/db is unavailable:")
    await storage.close()


def test_the_sdk_sees_the_outage_in_the_openai_envelope():
    storage = sqlalchemy_storage_adapter("mysql://bob:s3cret@127.0.0.1:1/db", connect_timeout=2)
    client = supercompat(storage_adapter=storage, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.beta.assistants.create(model="m")
    assert info.value.status_code == 503
    assert info.value.body["type"] == "server_error" and info.value.body["code"] == "storage_unavailable"
    assert "bob:***@127.0.0.1:1" in info.value.body["message"] and "s3cret" not in info.value.body["message"]


async def test_a_failed_write_leaves_nothing_behind(storage):
    thread = make_thread()
    message = make_message(thread["id"])
    with pytest.raises(Exception):  # the second message repeats the first one's id
        await storage.create_thread(thread, [message, message])
    assert await storage.get_thread(thread["id"]) is None

    thread = make_thread()
    await storage.create_thread(thread, [])
    run = make_run(thread["id"])
    with pytest.raises(Exception):
        await storage.create_run(run, [message, message])
    assert await storage.get_run(thread["id"], run["id"]) is None
    assert await storage.get_active_run(thread["id"]) is None
    assert await storage.get_message(thread["id"], message["id"]) is None


async def test_a_closed_storage_refuses_work_instead_of_reconnecting(database_url):
    storage = sqlalchemy_storage_adapter(database_url)
    await storage.get_thread("thread_x")
    await storage.close()
    with pytest.raises(StorageUnavailable, match="has been closed"):
        await storage.get_thread("thread_x")
    assert storage.engine.pool.checkedout() == 0


@pytest.mark.parametrize("name", ["nul \x00 inside", "lone \ud800 surrogate", "x" * 300],
                         ids=["nul", "surrogate", "too-long-for-varchar"])
async def test_text_a_database_cannot_store_is_a_400_and_stores_nothing(storage, name):
    from supercompat.errors import InvalidRequest
    from supercompat.storage import ListQuery
    from supercompat.testing.storage import make_assistant

    assistant = make_assistant(instructions=name, name=name)
    try:
        await storage.create_assistant(assistant)
    except InvalidRequest as exc:
        assert exc.status == 400 and ("can't be stored" in exc.message or "can't store" in exc.message)
        assert (await storage.list_assistants(ListQuery())).data == []
    else:  # SQLite takes anything; MariaDB takes a NUL character
        assert (await storage.get_assistant(assistant["id"]))["instructions"] == name


def test_pool_pre_ping_is_on_unless_turned_off():
    assert sqlalchemy_storage_adapter("postgresql://u@h/db").engine.pool._pre_ping
    assert not sqlalchemy_storage_adapter("postgresql://u@h/db", pool_pre_ping=False).engine.pool._pre_ping
