"""What a database error shows: no values written (model output among them) in the error's text, so
none in the log; no URL, host or file in what a client sees."""

import traceback

import openai
import pytest

from supercompat import supercompat
from supercompat.testing.storage import make_message, make_thread
from supercompat_sqlalchemy import StorageUnavailable, sqlalchemy_storage_adapter

SECRET = "the model said SECRET-REPLY-7f3a"


async def test_a_failed_write_shows_none_of_its_values(storage):
    """The second message repeats the first one's id: the database refuses the write. What the log
    would carry (the exception and its traceback) names the statement, not the values."""
    thread = make_thread()
    message = make_message(thread["id"], SECRET)
    with pytest.raises(Exception) as info:
        await storage.create_thread(thread, [message, message])
    logged = "".join(traceback.format_exception(info.value))
    assert "INSERT" in logged and "SECRET-REPLY" not in logged


UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-supercompat-dir/private/secret.db",
    "postgresql": "postgresql://alice:s3cret@127.0.0.1:1/privatedb",
    "mysql": "mysql://bob:s3cret@127.0.0.1:1/privatedb",
}


@pytest.mark.parametrize("backend", UNREACHABLE)
def test_an_unreachable_database_is_a_503_naming_no_url_or_file(backend, caplog):
    storage = sqlalchemy_storage_adapter(UNREACHABLE[backend], connect_timeout=2)
    client = supercompat(storage_adapter=storage, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.beta.assistants.create(model="m")
    body = info.value.body
    assert info.value.status_code == 503 and body["code"] == "storage_unavailable"
    assert body["message"] == "The storage database is unavailable."
    for hidden in ("127.0.0.1", "privatedb", "alice", "bob", "s3cret", "secret.db", "nonexistent-supercompat-dir"):
        assert hidden not in body["message"]


async def test_the_operator_still_sees_where_with_the_password_hidden():
    storage = sqlalchemy_storage_adapter(UNREACHABLE["postgresql"], connect_timeout=2)
    with pytest.raises(StorageUnavailable) as info:
        await storage.get_thread("thread_x")
    assert str(info.value).startswith(
        "The database at postgresql+asyncpg://alice:***@127.0.0.1:1/privatedb is unavailable")
    await storage.close()
