"""The S3 blob store, on aiobotocore (botocore's async twin: the same signing, retries and credential
chain as boto3, without blocking the event loop)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import aiobotocore.session
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from supercompat import keep_inherited
from supercompat.blobs import CHUNK_BYTES, BlobNotFound, check_key, check_range
from supercompat.errors import APIError, redacted
from supercompat.loop import finish

from . import S3Options

log = logging.getLogger(__name__)

MAX_PARTS = 10_000  # S3's limit for one multipart upload

# Error codes that mean "not there" for an object (HEAD answers a bare status, without a code).
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Error(APIError):
    """S3 refused a call or could not be reached. Clients see ``message``, which names the bucket and
    what S3 said (never a credential nor the endpoint); ``str()`` of it (the log) adds the endpoint,
    the object and the underlying error."""

    def __init__(self, message: str, detail: str, *, status: int, code: str) -> None:
        super().__init__(message, status=status, type="server_error", code=code)
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """Blobs as objects of one bucket (see :class:`supercompat_s3.S3Options`). The aiobotocore client
    is made on first use, on the loop that uses it, and checks the bucket then."""

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self.bucket = options.bucket
        prefix = options.prefix.strip("/")
        self._prefix = prefix + "/" if prefix else ""
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        self._aborts: set[asyncio.Task[None]] = set()  # multipart aborts still under way
        self._closed = False

    def __repr__(self) -> str:
        return (f"S3BlobStore(bucket={self.bucket!r}, prefix={self._prefix!r}, "
                f"endpoint_url={self.options.endpoint_url!r})")

    # -- the client ---------------------------------------------------------------------------------
    def object_key(self, key: str) -> str:
        """The S3 key of the blob ``key``; ValueError for a key outside the blob key alphabet."""
        return self._prefix + check_key(key)

    async def _s3(self) -> Any:
        if self._closed:
            raise S3Error("The blob store has been closed.", f"{self!r} has been closed.", status=503,
                          code="blob_store_unavailable")
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    stack = AsyncExitStack()
                    try:
                        with self._errors("reach the bucket"):
                            client = await stack.enter_async_context(self._create_client())
                            await self._check_bucket(client)
                    except BaseException:
                        await stack.aclose()
                        raise
                    self._client, self._stack = client, stack
        return self._client

    def _create_client(self) -> Any:
        o = self.options
        config = AioConfig(
            s3={"addressing_style": o.addressing_style},
            retries={"mode": "standard", "max_attempts": o.max_attempts},
            # What every S3-compatible service takes (botocore's default before 1.36): checksums only
            # where an operation requires them; TLS and SigV4 already protect what is sent.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        secret = o.secret_access_key.get_secret_value() if o.secret_access_key is not None else None
        token = o.session_token.get_secret_value() if o.session_token is not None else None
        return aiobotocore.session.get_session().create_client(
            "s3", region_name=o.region, endpoint_url=o.endpoint_url, aws_access_key_id=o.access_key_id,
            aws_secret_access_key=secret, aws_session_token=token, config=config)

    async def _check_bucket(self, s3: Any) -> None:
        """A missing bucket is made (``create_bucket``) or reported now: otherwise HEAD, which answers a
        bare 404 for a missing bucket as for a missing object, would make every blob look absent. A
        403 passes: a policy may allow the objects but not HeadBucket (s3:ListBucket)."""
        try:
            await s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 403:
                return
            if status != 404 and _code(exc) not in ("NoSuchBucket", "404", "NotFound"):
                raise
        if not self.options.create_bucket:
            raise S3Error(f"The S3 bucket '{self.bucket}' does not exist (set create_bucket = true to "
                          f"create it).", f"The S3 bucket '{self.bucket}' does not exist at "
                          f"{self.options.endpoint_url or 'AWS'}.", status=500, code="blob_store_error")
        kwargs: dict[str, Any] = {}
        region = s3.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await s3.create_bucket(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):  # made meanwhile
                raise
        log.info("Created the S3 bucket %r", self.bucket)

    @contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """S3's failures as :class:`S3Error`, with no credential in their text."""
        try:
            yield
        except ClientError as exc:
            code = _code(exc) or "error"
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            said = exc.response.get("Error", {}).get("Message") or ""
            reason = self._scrub(f"{code}{': ' + said if said else ''}" + (f" (HTTP {status})" if status else ""))
            raise self._error(action, key, reason, str(exc), status=500, code="blob_store_error") from None
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise self._error(action, key, "no AWS credentials were found (set access_key_id and "
                              "secret_access_key, or the standard AWS environment variables or files)",
                              str(exc), status=500, code="blob_store_error") from None
        except (BotoCoreError, OSError) as exc:  # TimeoutError among them
            raise self._error(action, key, f"S3 could not be reached ({type(exc).__name__})",
                              str(exc) or type(exc).__name__, status=503,
                              code="blob_store_unavailable") from None

    def _error(self, action: str, key: str | None, reason: str, detail: str, *, status: int,
               code: str) -> S3Error:
        what = f" '{key}'" if key is not None else ""
        message = f"The S3 blob store (bucket '{self.bucket}') could not {action}{what}: {reason}."
        where = f" at {self.options.endpoint_url or 'AWS'}"
        return S3Error(redacted(self._scrub(message)), self._scrub(f"{message[:-1]}{where}: {detail}"),
                       status=status, code=code)

    def _scrub(self, text: str) -> str:
        for secret in (self.options.secret_access_key, self.options.session_token):
            if secret is not None and secret.get_secret_value():
                text = text.replace(secret.get_secret_value(), "<hidden>")
        return text

    # -- the BlobStore contract ---------------------------------------------------------------------
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """One PutObject below ``part_size`` bytes, else a multipart upload of ``part_size`` parts, one
        part sent while the next is read (so at most two parts are held), aborted if anything fails or
        the put is cancelled: S3 shows the new object only once the upload completes."""
        name = self.object_key(key)  # a bad key is a ValueError before anything goes to S3
        s3 = await self._s3()
        part_size = self.options.part_size
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        begun: list[str] = []  # the upload's id, even if the put is cancelled while it is begun

        async def begin() -> None:
            with self._errors("write", key):
                begun.append((await s3.create_multipart_upload(Bucket=self.bucket, Key=name))["UploadId"])

        parts: list[dict[str, Any]] = []
        sending: asyncio.Task[dict[str, Any]] | None = None  # the part on its way
        try:
            async for chunk in chunks:
                before = len(buffer)
                buffer += chunk  # bytes, bytearray or memoryview alike
                size += len(buffer) - before
                while len(buffer) >= part_size:
                    if upload_id is None:
                        # Run to its end even if the put is cancelled meanwhile: the upload it begins is
                        # then known, and aborted below.
                        await finish(begin())
                        upload_id = begun[0]
                    if sending is not None:
                        parts.append(await sending)
                    part = bytes(buffer[:part_size])
                    del buffer[:part_size]
                    sending = asyncio.ensure_future(self._send_part(s3, key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                with self._errors("write", key):
                    await s3.put_object(Bucket=self.bucket, Key=name, Body=bytes(buffer))
                return size
            if sending is not None:
                parts.append(await sending)
                sending = None
            if buffer:
                parts.append(await self._send_part(s3, key, upload_id, len(parts) + 1, bytes(buffer)))
            with self._errors("write", key):
                await s3.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                                   MultipartUpload={"Parts": parts})
            return size
        except BaseException:
            if sending is not None and not sending.done():
                sending.cancel()
            if sending is not None:
                await asyncio.wait((sending,))
                if not sending.cancelled():
                    sending.exception()  # retrieved: the put's own error is what the caller gets
            if begun:
                await self._abort(s3, key, begun[0])
            raise

    async def _send_part(self, s3: Any, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        if number > MAX_PARTS:
            raise APIError(f"The blob is too large for the S3 blob store: more than {MAX_PARTS} parts of "
                           f"{self.options.part_size} bytes (raise part_size).", status=413,
                           code="blob_too_large")
        with self._errors("write", key):
            answer = await s3.upload_part(Bucket=self.bucket, Key=self.object_key(key), UploadId=upload_id,
                                          PartNumber=number, Body=data)
        return {"ETag": answer["ETag"], "PartNumber": number}

    async def _abort(self, s3: Any, key: str, upload_id: str) -> None:
        """Abort a multipart upload, to its end even if the caller is cancelled (again) meanwhile: then
        it goes on in the background, and ``close()`` waits for it."""
        task = asyncio.ensure_future(s3.abort_multipart_upload(Bucket=self.bucket, Key=self.object_key(key),
                                                               UploadId=upload_id))
        self._aborts.add(task)
        task.add_done_callback(self._aborted(key, upload_id))
        try:
            await asyncio.shield(task)
        except BaseException:
            pass  # logged by _aborted; the put's own error (or cancel) is what the caller gets

    def _aborted(self, key: str, upload_id: str) -> Any:
        def done(task: asyncio.Task[None]) -> None:
            self._aborts.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.warning("Could not abort the multipart upload %s of %r in the S3 bucket %r (a lifecycle "
                            "rule AbortIncompleteMultipartUpload removes such leftovers): %s", upload_id,
                            self.object_key(key), self.bucket, self._scrub(str(task.exception())))

        return done

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """One GET (ranged unless it is the whole blob), streamed in chunks of at most CHUNK_BYTES: a put
        that replaces the blob meanwhile does not mix into what this read yields."""
        name = self.object_key(key)  # a bad key or range is a ValueError before anything goes to S3
        check_range(start, end)
        s3 = await self._s3()
        if end is not None and end <= start:
            if await self.size(key) is None:
                raise BlobNotFound(key)
            return
        kwargs: dict[str, Any] = {}
        if start > 0 or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with self._errors("read", key):
            try:
                answer = await s3.get_object(Bucket=self.bucket, Key=name, **kwargs)
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    raise BlobNotFound(key) from None
                if _code(exc) == "InvalidRange":  # start is at or past the end of the blob
                    return
                raise
        body = answer["Body"]
        try:
            while True:
                with self._errors("read", key):
                    chunk = await body.read(CHUNK_BYTES)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    async def size(self, key: str) -> int | None:
        name = self.object_key(key)
        s3 = await self._s3()
        with self._errors("read the size of", key):
            try:
                answer = await s3.head_object(Bucket=self.bucket, Key=name)
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    return None
                raise
        return int(answer["ContentLength"])

    async def delete(self, key: str) -> bool:
        """HEAD, then DELETE if there is an object (S3's DELETE says nothing of what was there)."""
        if await self.size(key) is None:
            return False
        s3 = await self._s3()
        with self._errors("delete", key):
            await s3.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        return True

    async def close(self) -> None:
        self._closed = True
        if self._aborts:
            await asyncio.gather(*self._aborts, return_exceptions=True)
        stack, self._client, self._stack = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def after_fork(self) -> None:
        """In a forked child (called by the App): the client's connections are the parent's, so the
        child makes its own on first use; the inherited client is neither used nor closed here."""
        if self._client is not None:
            keep_inherited(self._client, self._stack)
        self._client, self._stack = None, None
        self._lock = asyncio.Lock()
        self._aborts = set()
