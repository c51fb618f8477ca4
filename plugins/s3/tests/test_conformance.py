"""The S3 blob store passes the BlobStoreTests kit against a real S3-compatible server (moto's)."""

import pytest
from botocore.exceptions import ClientError

from supercompat.testing import BlobStoreTests


class TestS3BlobStore(BlobStoreTests):
    @pytest.fixture
    async def blob_store(self, make_store, s3):
        # a prefix, so that the kit's keys are checked as paths below it too
        store = make_store(prefix="supercompat/blobs")
        yield store
        await store.close()  # aborts still under way end first
        try:
            pending = (await s3.list_multipart_uploads(Bucket=store.bucket)).get("Uploads", [])
        except ClientError as exc:  # a test that never reached S3 (refused keys) made no bucket
            assert exc.response["Error"]["Code"] == "NoSuchBucket"
            pending = []
        assert pending == []
