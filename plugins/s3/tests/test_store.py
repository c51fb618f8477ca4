"""What S3 does beyond the kit: multipart uploads (the kit's blobs are all below a part), that a failed
or cancelled one leaves no object and no pending upload, and where the objects go."""

import asyncio
import socket

import pytest

from supercompat.blobs import BlobNotFound
from supercompat.testing.blobs import chunks_of, pattern, read_all
from supercompat_s3 import MIN_PART_SIZE

PART = MIN_PART_SIZE


class Broken(Exception):
    pass


async def pending_uploads(s3, bucket):
    return (await s3.list_multipart_uploads(Bucket=bucket)).get("Uploads", [])


async def etag(s3, bucket, key):
    return (await s3.head_object(Bucket=bucket, Key=key))["ETag"].strip('"')


async def test_a_blob_larger_than_a_part_goes_up_in_parts(make_store, s3):
    store = make_store(part_size=PART)
    data = pattern(2 * PART + 12_345, salt=1)
    assert await store.put("file-big", chunks_of(data, 700_001)) == len(data)
    assert await read_all(store, "file-big") == data
    assert await read_all(store, "file-big", PART - 3, PART + 5) == data[PART - 3:PART + 5]
    assert await store.size("file-big") == len(data)
    assert (await etag(s3, store.bucket, "file-big")).endswith("-3")  # a multipart object's ETag: its parts
    assert await pending_uploads(s3, store.bucket) == []


@pytest.mark.parametrize("size, parts", [(PART - 1, None), (PART, 1), (2 * PART, 2)])
async def test_part_boundaries(make_store, s3, size, parts):
    """Below part_size one PutObject (no part count in the ETag); from there whole parts, none empty."""
    store = make_store(part_size=PART)
    data = pattern(size, salt=2)
    assert await store.put("file-edge", chunks_of(data, 1_000_000)) == size
    assert await read_all(store, "file-edge") == data
    tag = await etag(s3, store.bucket, "file-edge")
    assert (tag.rpartition("-")[2] == str(parts)) if parts else "-" not in tag


async def test_a_failed_multipart_put_leaves_no_object_and_no_upload(make_store, s3):
    store = make_store(part_size=PART)
    old = pattern(1000, salt=3)
    await store.put("file-kept", chunks_of(old))

    async def failing():
        yield pattern(PART, salt=4)
        yield pattern(PART + 10, salt=5)  # a second part is sent before the source fails
        raise Broken()

    for key in ("file-kept", "file-new"):
        with pytest.raises(Broken):
            await store.put(key, failing())
    assert await read_all(store, "file-kept") == old
    assert await store.size("file-new") is None
    assert await pending_uploads(s3, store.bucket) == []


async def test_a_cancelled_multipart_put_is_aborted(make_store, s3):
    store = make_store(part_size=PART)
    old = pattern(2000, salt=6)
    await store.put("file-kept", chunks_of(old))
    started = asyncio.Event()

    async def endless():
        yield pattern(PART + 1, salt=7)  # a whole part: the multipart upload is begun before the next chunk
        started.set()
        await asyncio.Event().wait()
        yield b""

    for key in ("file-kept", "file-new"):
        started.clear()
        task = asyncio.ensure_future(store.put(key, endless()))
        await asyncio.wait_for(started.wait(), 30)
        assert [u["Key"] for u in await pending_uploads(s3, store.bucket)] == [key]
        assert await read_all(store, "file-kept") == old  # the new bytes are not visible meanwhile
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await read_all(store, "file-kept") == old
    with pytest.raises(BlobNotFound):
        await read_all(store, "file-new")
    assert await pending_uploads(s3, store.bucket) == []


async def test_keys_go_below_the_prefix(make_store, s3):
    for prefix, expected in (("", "upload_a/part_1"), ("/team/files/", "team/files/upload_a/part_1")):
        store = make_store(prefix=prefix)
        await store.put("upload_a/part_1", chunks_of(b"bytes"))
        listed = (await s3.list_objects_v2(Bucket=store.bucket))["Contents"]
        assert [item["Key"] for item in listed] == [expected]


async def test_two_stores_with_different_prefixes_share_a_bucket(make_store):
    first = make_store(prefix="one")
    second = make_store(bucket=first.bucket, prefix="two", create_bucket=False)
    await first.put("file-x", chunks_of(b"first"))
    assert await second.size("file-x") is None
    await second.put("file-x", chunks_of(b"second"))
    assert await read_all(first, "file-x") == b"first"
    assert await second.delete("file-x") is True
    assert await read_all(first, "file-x") == b"first"


async def test_a_closed_store_says_so(make_store):
    store = make_store()
    await store.put("file-x", chunks_of(b"x"))
    await store.close()
    with pytest.raises(Exception, match="closed"):
        await store.size("file-x")


async def test_after_fork_the_store_opens_its_own_client(make_store):
    store = make_store()
    await store.put("file-x", chunks_of(b"before"))
    inherited = store._client  # in a forked child: the parent's connections
    store.after_fork()
    try:
        assert await read_all(store, "file-x") == b"before"
        assert store._client is not None and store._client is not inherited
    finally:
        await inherited.close()  # here it is this process's own, to close


async def test_a_put_cancelled_while_its_upload_is_begun_aborts_it(make_store, s3):
    """The cancel lands while create_multipart_upload is in flight: S3 makes the upload all the same,
    so the put must learn its id and abort it."""
    store = make_store(part_size=PART)
    await store.size("file-x")  # the client made
    client = store._client
    real = client.create_multipart_upload
    created, release = asyncio.Event(), asyncio.Event()

    async def create_multipart_upload(**kwargs):
        answer = await real(**kwargs)  # made on the server
        created.set()
        await release.wait()  # the answer still on its way when the cancel lands
        return answer

    client.create_multipart_upload = create_multipart_upload

    async def source():
        yield pattern(PART + 1, salt=8)
        await asyncio.Event().wait()
        yield b""

    task = asyncio.ensure_future(store.put("file-begun", source()))
    await asyncio.wait_for(created.wait(), 30)
    assert len(await pending_uploads(s3, store.bucket)) == 1
    task.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()  # and any abort still under way ends
    assert await pending_uploads(s3, store.bucket) == []


async def test_a_bad_key_or_range_is_refused_before_s3_is_asked(make_store):
    """A ValueError, not an error of S3's: this store's endpoint answers nothing."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    store = make_store(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)
    for call in (lambda: store.put("../x", chunks_of(b"x")), lambda: read_all(store, "../x"),
                 lambda: store.size("../x"), lambda: store.delete("../x"),
                 lambda: read_all(store, "file-x", -3), lambda: read_all(store, "file-x", 5, 2)):
        with pytest.raises(ValueError):
            await call()
