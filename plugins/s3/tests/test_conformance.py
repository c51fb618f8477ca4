"""The S3 blob store passes the BlobStoreTests kit against a real S3-compatible server (moto's)."""

import pytest

from supercompat.testing import BlobStoreTests


class TestS3BlobStore(BlobStoreTests):
    @pytest.fixture
    async def blob_store(self, make_store, s3):
        # a prefix, so that the kit's keys are checked as paths below it too
        store = make_store(prefix="supercompat/blobs")
        yield store
        await store.close()  # aborts still under way end first
        assert (await s3.list_multipart_uploads(Bucket=store.bucket)).get("Uploads", []) == []
