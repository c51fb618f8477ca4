"""``[blob] plugin = "s3"`` in supercompat.toml, through the plugin's entry point, and the options' checks."""

import pytest

from supercompat.config import load_adapters
from supercompat.errors import ConfigError
from supercompat.plugins import registry
from supercompat.testing.blobs import chunks_of, read_all
from supercompat_s3 import S3BlobStore, S3Options, s3_blob_store

from conftest import new_bucket

SECRET = "s3cr3t-never-shown"


def write_config(tmp_path, blob: str) -> str:
    path = tmp_path / "supercompat.toml"
    path.write_text(f"[blob]\nplugin = \"s3\"\n{blob}\n")
    return str(path)


def test_the_plugin_registers_s3():
    spec = registry()["blob"]["s3"]
    assert spec.options is S3Options and spec.plugin == "supercompat-s3"


async def test_a_toml_blob_section_builds_a_working_store(tmp_path, s3_endpoint, monkeypatch):
    monkeypatch.setenv("TEST_S3_SECRET", SECRET)
    bucket = new_bucket()
    path = write_config(tmp_path, f"""
bucket = "{bucket}"
prefix = "supercompat"
endpoint_url = "{s3_endpoint}"
region = "us-east-1"
access_key_id = "test-key-id"
secret_access_key = {{ env = "TEST_S3_SECRET" }}
addressing_style = "path"
create_bucket = true
part_size = 5242880
""")
    store = load_adapters(path)["blob_store"]
    try:
        assert isinstance(store, S3BlobStore)
        assert store.bucket == bucket
        assert (store.options.part_size, store.options.addressing_style) == (5242880, "path")
        assert store.object_key("file-abc") == "supercompat/file-abc"
        assert await store.put("file-abc", chunks_of(b"through the config")) == 18
        assert await read_all(store, "file-abc") == b"through the config"
        assert SECRET not in repr(store) and SECRET not in repr(store.options)
    finally:
        await store.close()


@pytest.mark.parametrize("blob, complaint", [
    ('', "bucket"),
    ('bucket = "b"\npart_size = 1048576', "part_size"),
    ('bucket = "b"\naddressing_style = "sideways"', "addressing_style"),
    ('bucket = "b"\nendpoint_url = "minio:9000"', "endpoint_url"),
    ('bucket = "b"\nbucket_name = "b"', "bucket_name"),
    (f'bucket = "b"\nsecret_access_key = "{SECRET}"', "access_key_id and secret_access_key go together"),
    (f'bucket = "b"\nsession_token = "{SECRET}"', "session_token needs"),
])
def test_bad_options_are_a_config_error_naming_the_option(tmp_path, blob, complaint):
    with pytest.raises(ConfigError) as info:
        load_adapters(write_config(tmp_path, blob))
    assert complaint in str(info.value)
    assert SECRET not in str(info.value)


def test_the_factory_checks_its_options_too():
    with pytest.raises(ConfigError, match="part_size") as info:
        s3_blob_store("b", access_key_id="id", secret_access_key=SECRET, part_size=1024)
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError, match="go together") as info:
        s3_blob_store("b", secret_access_key=SECRET)
    assert SECRET not in str(info.value)
