"""A real S3-compatible server for the tests: moto's server mode, on a free loopback port, in a thread of
the test process (``s3_endpoint``); ``make_store`` builds blob stores on it, each in a bucket of its own,
and ``s3`` is a plain aiobotocore client on it, to look behind a store's back."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiobotocore.session
import pytest

from supercompat_s3 import S3BlobStore, s3_blob_store

# moto's server accepts any credentials until its IAM checks are turned on (test_errors.py does).
CREDENTIALS = {"access_key_id": "test-key-id", "secret_access_key": "test-secret"}
REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The machine's AWS settings never reach a test, and botocore never asks the instance metadata
    service (an address off this machine) for credentials."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def new_bucket() -> str:
    return f"sc-{uuid.uuid4().hex[:24]}"


@pytest.fixture
async def make_store(s3_endpoint: str) -> AsyncIterator[Callable[..., S3BlobStore]]:
    """``make_store(**options)``: a store on the local server, by default in a new bucket it creates."""
    stores: list[S3BlobStore] = []

    def make(**options: Any) -> S3BlobStore:
        options = {"bucket": new_bucket(), "endpoint_url": s3_endpoint, "region": REGION,
                   "create_bucket": True, **CREDENTIALS, **options}
        store = s3_blob_store(**options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
async def s3(s3_endpoint: str) -> AsyncIterator[Any]:
    async with aiobotocore.session.get_session().create_client(
            "s3", region_name=REGION, endpoint_url=s3_endpoint,
            aws_access_key_id=CREDENTIALS["access_key_id"],
            aws_secret_access_key=CREDENTIALS["secret_access_key"]) as client:
        yield client
