"""In-process clients need an openai release on httpx2 (3.0+): an older one fails at construction with a
message that says what to install, and that server mode works with any version."""

import openai
import pytest

import supercompat
from supercompat import OPENAI_FLOOR, check_openai_version
from supercompat.errors import ConfigError

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it


@pytest.mark.parametrize("version", ["1.21.0", "1.109.1", "2.0.0", "2.54.0", "0.28.1"])
def test_releases_before_httpx2_are_refused_with_what_to_do(version):
    with pytest.raises(ConfigError) as info:
        check_openai_version(version)
    message = str(info.value)
    assert f"openai {version} is installed" in message
    assert "pip install 'openai>=3.0.0'" in message
    assert "supercompat serve" in message and "every openai version" in message


@pytest.mark.parametrize("version", ["3.0.0", "3.53.0", "3.57.0", "3.1.0rc1", "4.0", "10.2.3"])
def test_releases_on_httpx2_are_accepted(version):
    check_openai_version(version)


def test_the_installed_release_is_accepted():
    check_openai_version(openai.__version__)
    assert tuple(int(p) for p in openai.__version__.split(".")[:2]) >= OPENAI_FLOOR[:2]


@pytest.mark.parametrize("make", [supercompat.supercompat, supercompat.async_supercompat])
def test_constructing_a_client_checks_the_installed_release(make, monkeypatch):
    monkeypatch.setattr(openai, "__version__", "1.109.1")
    with pytest.raises(ConfigError, match="openai 1.109.1 is installed"):
        make()


def test_from_config_checks_it_too(tmp_path, monkeypatch):
    config = tmp_path / "supercompat.toml"
    config.write_text('[client]\nplugin = "scripted"\n')
    monkeypatch.setattr(openai, "__version__", "2.54.0")
    with pytest.raises(ConfigError, match="openai 2.54.0 is installed"):
        supercompat.from_config(config)
