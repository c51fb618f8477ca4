"""supercompat blob store for Amazon S3 and any S3-compatible service (MinIO, Cloudflare R2, Ceph...).

File bytes live as objects in one bucket, under an optional key prefix. Writes are atomic the way
S3 makes them: a small blob is one PutObject, a larger one a multipart upload that readers don't see
until it completes and that is aborted if the write fails or is cancelled. aiobotocore is imported
only when a store is made, so having this plugin installed costs nothing until it is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from supercompat import hookimpl
from supercompat.errors import ConfigError

if TYPE_CHECKING:
    from .store import S3BlobStore, S3Error

__all__ = ["MIN_PART_SIZE", "S3BlobStore", "S3Error", "S3Options", "s3_blob_store"]

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (but the last) of a multipart upload
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024


class S3Options(BaseModel):
    """The ``[blob]`` section for ``plugin = "s3"``. Unset credentials and region come from the
    standard AWS chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and
    ``~/.aws``, an instance or container role; ``AWS_REGION``)."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=1)
    # Objects are stored as "<prefix>/<key>"; "" keeps them at the top of the bucket.
    prefix: str = ""
    # Another S3-compatible service, e.g. "http://127.0.0.1:9000" (MinIO); None: AWS itself.
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = Field(None, validate_default=True)
    session_token: SecretStr | None = Field(None, validate_default=True)  # with temporary credentials
    # "path" (https://host/bucket/key) suits most services other than AWS; "auto": botocore's choice.
    addressing_style: Literal["auto", "virtual", "path"] = "auto"
    create_bucket: bool = False  # make the bucket on first use if it does not exist
    part_size: int = Field(8 * 1024 * 1024, ge=MIN_PART_SIZE, le=MAX_PART_SIZE)
    max_attempts: int = Field(3, ge=1)  # per S3 call, retries included (botocore's "standard" mode)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("endpoint_url must be an http:// or https:// URL")
        return value

    @field_validator("secret_access_key", "session_token")
    @classmethod
    def _credentials(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        key_id = info.data.get("access_key_id")
        if info.field_name == "secret_access_key" and (key_id is None) != (value is None):
            raise ValueError("access_key_id and secret_access_key go together: set both, or neither to use "
                             "the standard AWS credential chain")
        if info.field_name == "session_token" and value is not None and key_id is None:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        return value

def s3_blob_store(bucket: str, *, prefix: str = "", endpoint_url: str | None = None,
                  region: str | None = None, access_key_id: str | None = None,
                  secret_access_key: str | None = None, session_token: str | None = None,
                  addressing_style: str = "auto", create_bucket: bool = False,
                  part_size: int = 8 * 1024 * 1024, max_attempts: int = 3) -> S3BlobStore:
    """A blob store keeping file bytes in ``bucket`` (see :class:`S3Options` for each option).
    ``App(blob_store=s3_blob_store("my-bucket", endpoint_url="http://127.0.0.1:9000"))``."""
    try:
        options = S3Options.model_validate({
            "bucket": bucket, "prefix": prefix, "endpoint_url": endpoint_url, "region": region,
            "access_key_id": access_key_id, "secret_access_key": secret_access_key,
            "session_token": session_token, "addressing_style": addressing_style,
            "create_bucket": create_bucket, "part_size": part_size, "max_attempts": max_attempts})
    except ValidationError as exc:
        err = exc.errors()[0]  # its message names the option, never the value (a secret, maybe)
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"s3_blob_store: {where + ': ' if where else ''}{err['msg']}.") from None
    return _from_options(options)


def _from_options(options: S3Options) -> S3BlobStore:
    from .store import S3BlobStore

    return S3BlobStore(options)


def __getattr__(name: str) -> Any:
    if name in ("S3BlobStore", "S3Error"):
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def register_blob_stores(register: Any) -> None:
    register("s3", _from_options, S3Options)
