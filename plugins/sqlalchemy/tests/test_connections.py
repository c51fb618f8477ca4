"""URLs, drivers, unreachable databases and all-or-nothing writes."""

import asyncio

import openai
import pytest
import sqlalchemy as sa

from supercompat import supercompat
from supercompat.errors import ConfigError
from supercompat.testing.storage import make_message, make_run, make_thread
from supercompat_sqlalchemy import StorageUnavailable, async_url, sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import empty

from test_races_and_drops import kill_other_sessions, sync_engine


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
    assert info.value.status == 503 and info.value.message == "The storage database is unavailable."
    assert str(info.value).startswith("The database at postgresql+asyncpg://alice:***@127.0.0.1:1/db is unavailable:")
    await storage.close()


def test_the_sdk_sees_the_outage_in_the_openai_envelope():
    storage = sqlalchemy_storage_adapter("mysql://bob:s3cret@127.0.0.1:1/db", connect_timeout=2)
    client = supercompat(storage_adapter=storage, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.beta.assistants.create(model="m")
    assert info.value.status_code == 503
    assert info.value.body["type"] == "server_error" and info.value.body["code"] == "storage_unavailable"
    assert info.value.body["message"] == "The storage database is unavailable."


async def test_a_failed_write_leaves_nothing_behind(storage):
    thread = make_thread()
    message = make_message(thread["id"])
    with pytest.raises(sa.exc.IntegrityError):  # the second message repeats the first one's id
        await storage.create_thread(thread, [message, message])
    assert await storage.get_thread(thread["id"]) is None

    thread = make_thread()
    await storage.create_thread(thread, [])
    run = make_run(thread["id"])
    with pytest.raises(sa.exc.IntegrityError):
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


@pytest.fixture
async def pinging(database_url, monkeypatch):
    """A storage whose pooled connections are tested once idle for 0.2 s, and the tests it made."""
    if database_url.startswith("sqlite"):
        pytest.skip("a file has no connection to lose")
    await empty(database_url)
    storage = sqlalchemy_storage_adapter(database_url, pool_pre_ping_idle=0.2)
    pings = []
    real_ping = storage.engine.dialect.do_ping
    monkeypatch.setattr(storage.engine.dialect, "do_ping", lambda conn: pings.append(1) or real_ping(conn))
    yield storage, pings
    await storage.close()


async def test_a_connection_in_use_a_moment_ago_is_not_tested_again(pinging):
    storage, pings = pinging
    for _ in range(5):
        await storage.get_thread("thread_x")
    assert pings == []
    await asyncio.sleep(0.3)
    await storage.get_thread("thread_x")
    assert pings == [1]


async def test_an_idle_connection_the_server_dropped_is_replaced_unseen(pinging, database_url):
    storage, pings = pinging
    thread = make_thread()
    await storage.create_thread(thread, [])
    engine = sync_engine(database_url)
    with engine.connect() as conn:
        kill_other_sessions(conn)  # what a database restart does to the pooled connection
    engine.dispose()
    await asyncio.sleep(0.3)
    assert await storage.get_thread(thread["id"]) == thread
    assert pings


def test_pool_pre_ping_every_checkout_or_never():
    assert sqlalchemy_storage_adapter("postgresql://u@h/db", pool_pre_ping_idle=0).engine.pool._pre_ping
    assert not sqlalchemy_storage_adapter("postgresql://u@h/db", pool_pre_ping=False).engine.pool._pre_ping
