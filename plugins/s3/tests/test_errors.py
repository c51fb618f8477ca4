"""S3's failures reach clients as supercompat errors that name the bucket and say what S3 said, and
no credential ever shows: not in the message, not in str() (the log), not in the log itself."""

import logging
import socket

import aiobotocore.session
import pytest

from supercompat.errors import APIError
from supercompat.testing.blobs import chunks_of, read_all
from supercompat_s3 import S3Error

from conftest import REGION, new_bucket

WRONG_SECRET = "wrong-secret-0123456789abcdef"
SESSION_TOKEN = "session-token-fedcba9876543210"


def assert_no_secret(error, caplog, *secrets):
    # botocore's own error is not chained to it (a traceback in the log would show it)
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    for text in (error.message, str(error), repr(error), caplog.text):
        assert not any(secret in text for secret in secrets)


@pytest.fixture
async def iam_key(s3_endpoint, monkeypatch):
    """An IAM user's access key (no policy: S3 denies it everything), then moto's IAM checks turned on."""
    import moto.settings

    async with aiobotocore.session.get_session().create_client(
            "iam", region_name=REGION, endpoint_url=s3_endpoint, aws_access_key_id="test-key-id",
            aws_secret_access_key="test-secret") as iam:
        user = new_bucket()
        await iam.create_user(UserName=user)
        key = (await iam.create_access_key(UserName=user))["AccessKey"]
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    return key


async def test_a_wrong_secret(make_store, iam_key, caplog):
    bucket = new_bucket()
    store = make_store(bucket=bucket, access_key_id=iam_key["AccessKeyId"], secret_access_key=WRONG_SECRET)
    with pytest.raises(APIError) as info:
        await store.put("file-x", chunks_of(b"x"))
    assert isinstance(info.value, S3Error)
    assert (info.value.status, info.value.type, info.value.code) == (500, "server_error", "blob_store_error")
    assert f"bucket '{bucket}'" in info.value.message
    assert "SignatureDoesNotMatch" in info.value.message
    assert_no_secret(info.value, caplog, WRONG_SECRET)


async def test_access_denied(make_store, iam_key, caplog):
    bucket = new_bucket()
    store = make_store(bucket=bucket, access_key_id=iam_key["AccessKeyId"],
                       secret_access_key=iam_key["SecretAccessKey"])
    for call in (lambda: store.put("file-x", chunks_of(b"x")), lambda: read_all(store, "file-x")):
        with pytest.raises(APIError) as info:
            await call()
        assert f"bucket '{bucket}'" in info.value.message and "AccessDenied" in info.value.message
        assert_no_secret(info.value, caplog, iam_key["SecretAccessKey"])


async def test_a_missing_bucket(make_store, caplog):
    bucket = new_bucket()
    store = make_store(bucket=bucket, create_bucket=False)
    for call in (lambda: store.size("file-x"), lambda: store.put("file-x", chunks_of(b"x"))):
        with pytest.raises(APIError, match=f"S3 bucket '{bucket}' does not exist") as info:
            await call()
        assert "create_bucket" in info.value.message
        assert_no_secret(info.value, caplog, "test-secret")


async def test_an_unreachable_endpoint(make_store, caplog):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bucket = new_bucket()
    store = make_store(bucket=bucket, endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1,
                       secret_access_key=WRONG_SECRET, session_token=SESSION_TOKEN)
    with pytest.raises(APIError) as info:
        await store.size("file-x")
    assert info.value.status == 503 and info.value.code == "blob_store_unavailable"
    assert f"bucket '{bucket}'" in info.value.message and "could not be reached" in info.value.message
    assert f"127.0.0.1:{port}" not in info.value.message  # where the service lives is for the log only
    assert f"127.0.0.1:{port}" in str(info.value)
    assert_no_secret(info.value, caplog, WRONG_SECRET, SESSION_TOKEN)


async def test_no_credentials_at_all(make_store, caplog):
    store = make_store(access_key_id=None, secret_access_key=None)
    with pytest.raises(APIError, match="no AWS credentials") as info:
        await store.size("file-x")
    assert info.value.status == 500
    assert_no_secret(info.value, caplog, "test-secret")


async def test_a_failed_abort_is_logged_and_the_put_fails_with_its_own_error(make_store, s3, caplog):
    """An abort that fails (here: the upload is already gone) is a warning in the log, without the
    credentials; the caller gets the error that ended the put."""
    store = make_store(part_size=5 * 1024 * 1024, secret_access_key=WRONG_SECRET)

    async def source():
        yield b"\x00" * (5 * 1024 * 1024)
        uploads = (await s3.list_multipart_uploads(Bucket=store.bucket))["Uploads"]
        for item in uploads:  # the upload vanishes behind the store's back
            await s3.abort_multipart_upload(Bucket=store.bucket, Key=item["Key"], UploadId=item["UploadId"])
        raise RuntimeError("source failed")

    with caplog.at_level(logging.WARNING, logger="supercompat_s3"), pytest.raises(RuntimeError):
        await store.put("file-x", source())
    assert "Could not abort the multipart upload" in caplog.text
    assert WRONG_SECRET not in caplog.text
