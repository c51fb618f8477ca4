"""The docker sandbox: the command line it builds, and SandboxTests when a Docker daemon answers
(``docker info``); without one they are skipped, saying so."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from supercompat import plugins
from supercompat.sandbox_bubblewrap import ReplSession
from supercompat.sandboxes import SandboxUnavailable
from supercompat.testing import SandboxTests
from supercompat_docker import DockerOptions, DockerSandbox

IMAGE = "python:3.12-slim"


def docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_registered_as_docker():
    spec = plugins.get_adapter_spec("sandbox", "docker")
    assert spec.plugin == "supercompat-docker"
    assert isinstance(spec.build({"image": "my/python:1", "memory_mb": 512}), DockerSandbox)


def test_the_command_line_isolates_and_limits(tmp_path):
    sandbox = DockerSandbox(DockerOptions(image="my/python:1", memory_mb=512, processes=32, file_size_mb=10,
                                          cpus=0.5, user="1234:1234"))
    session = ReplSession(sandbox, str(tmp_path / "abc"))
    executable, argv = sandbox.command(session)
    assert argv[1:3] == ["run", "--interactive"] and executable == argv[0]

    def value(flag):
        return argv[argv.index(flag) + 1]

    assert value("--network") == "none" and "--read-only" in argv and value("--cap-drop") == "ALL"
    assert value("--memory") == value("--memory-swap") == "512m"  # no swap beyond it
    assert value("--pids-limit") == "32" and value("--cpus") == "0.5" and value("--user") == "1234:1234"
    assert value("--security-opt") == "no-new-privileges" and value("--name") == "supercompat-sandbox-abc"
    assert f"fsize={10 << 20}" in argv and "nofile=256:256" in argv
    assert f"{tmp_path / 'abc' / 'data'}:/mnt/data" in argv
    assert f"{tmp_path / 'abc' / 'in'}:/var/lib/repl/in:ro" in argv
    assert value("--tmpfs").startswith("/tmp:") and "size=256m" in value("--tmpfs")
    image = argv.index("my/python:1")
    assert argv[image + 1:image + 4] == ["python3", "-u", "-I"] and argv[-1] == "1"  # replies on stdout
    assert "NPROC" not in json.loads(argv[-2])  # the container's pids limit counts processes
    assert not any(a.startswith("--privileged") or a == "--network=host" for a in argv)


async def test_without_the_docker_cli_opening_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    sandbox = DockerSandbox()
    with pytest.raises(SandboxUnavailable, match="docker CLI"):
        await sandbox.open()
    await sandbox.close()


@pytest.mark.skipif(not docker_answers(), reason="no Docker daemon answers `docker info` here: the docker "
                                                 "sandbox's conformance tests need one (and the image " + IMAGE + ")")
class TestDocker(SandboxTests):
    @pytest.fixture
    async def sandbox(self):
        sandbox = DockerSandbox(DockerOptions(image=IMAGE))
        yield sandbox
        await sandbox.close()


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """The docker CLI replaced by fake_docker.py; returns its log of commands."""
    log = tmp_path / "docker.log"
    log.write_text("")
    cli = tmp_path / "docker"
    cli.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).with_name('fake_docker.py')} \"$@\"\n")
    cli.chmod(0o755)
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    return cli, log


async def test_a_session_speaks_to_its_container_over_stdio(fake_docker):
    """The plumbing, without a daemon: cells in and replies out through the CLI's stdin and stdout,
    output and files through the volumes, an interrupt at the time limit, and the container removed
    when its process is stopped."""
    cli, log = fake_docker
    sandbox = DockerSandbox(DockerOptions(docker=str(cli)))
    try:
        session = await sandbox.open()
        first = await session.run("x = 6\nprint('out')\nx * 7", timeout=30)
        assert first.logs == "out\n42\n" and not first.error
        assert (await session.run("1 / 0", timeout=30)).error
        stopped = await session.run("while True:\n    pass", timeout=0.5)
        assert stopped.timed_out and not stopped.restarted
        assert (await session.run("x", timeout=30)).logs == "6\n"
        await session.put("in.txt", b"from the host")
        assert (await session.run("open('in.txt').read()", timeout=30)).logs == "'from the host'\n"
        name = sandbox.container(session)
        await session.close()
        assert f"rm --force {name}" in log.read_text()  # the container goes with its session
    finally:
        await sandbox.close()
