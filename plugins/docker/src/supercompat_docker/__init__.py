"""supercompat-docker: code_interpreter's sessions as Docker containers (``[sandbox] plugin =
"docker"``). Each session is a container of ``image`` running core's REPL (``supercompat.sandbox_repl``)
with no network, a read-only root, no capabilities, an unprivileged user, and memory, CPU, process
and file-size limits; its ``/mnt/data`` is a directory of the host, bind-mounted. What it protects
against and what it doesn't: docs/sandboxes.md."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from supercompat import hookimpl
from supercompat.sandbox_bubblewrap import (
    IN,
    OPEN_FILES,
    OUT,
    SESSION_ENV,
    ReplProcess,
    ReplSandbox,
    ReplSession,
    repl_source,
)
from supercompat.sandboxes import MOUNT, NO_SANDBOX_HELP, SandboxUnavailable


class DockerOptions(BaseModel):
    """``[sandbox] plugin = "docker"``."""

    model_config = ConfigDict(extra="forbid")

    #: The image sessions run: it needs a Python 3 (``python``); for numpy, pandas and matplotlib,
    #: build one with them (docs/sandboxes.md).
    image: str = "python:3.12-slim"
    python: str = "python3"
    #: The docker CLI (``DOCKER_HOST`` and the rest of its environment apply).
    docker: str = "docker"
    memory_mb: int = Field(1024, ge=64)
    cpus: float = Field(1.0, gt=0)
    #: CPU time each process may use in all (RLIMIT_CPU), behind each cell's own time limit.
    cpu_seconds: int = Field(600, ge=1)
    file_size_mb: int = Field(100, ge=1)
    processes: int = Field(64, ge=4)
    tmp_mb: int = Field(256, ge=1)
    #: ``uid:gid`` inside; by default 65534:65534 when supercompat runs as root, else its own.
    user: str | None = None
    #: Where sessions' directories live on the host (a daemon on another machine can't mount them).
    work_dir: str | None = None


def _ids(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


class DockerSandbox(ReplSandbox):
    """Sessions as containers: see the module's doc."""

    name = "docker"
    replies_fd = 1  # `docker run -i` passes stdio only: the REPL replies on its stdout

    def __init__(self, options: DockerOptions | None = None) -> None:
        self.options = options or DockerOptions()
        as_root = os.geteuid() == 0
        user = self.options.user or ("65534:65534" if as_root else f"{os.geteuid()}:{os.getegid()}")
        self.user = user
        super().__init__(self.options.work_dir, _ids(user)[0] if as_root else None)

    def environment(self) -> dict[str, str]:
        return dict(os.environ)  # the CLI's: DOCKER_HOST, its config (the container gets --env only)

    async def prepare(self) -> None:
        docker = shutil.which(self.options.docker)
        if docker is None:
            raise SandboxUnavailable(f"The docker CLI ({self.options.docker}) is not installed. {NO_SANDBOX_HELP}")
        self.docker = docker

    @staticmethod
    def container(session: ReplSession) -> str:
        return "supercompat-sandbox-" + os.path.basename(session.directory)

    def command(self, session: ReplSession) -> tuple[str, list[str]]:
        options = self.options
        memory = f"{options.memory_mb}m"
        argv = [getattr(self, "docker", options.docker), "run", "--interactive", "--rm",
                "--name", self.container(session), "--network", "none", "--read-only",
                "--tmpfs", f"/tmp:rw,exec,size={options.tmp_mb}m,mode=1777",
                "--memory", memory, "--memory-swap", memory, "--cpus", f"{options.cpus:g}",
                "--pids-limit", str(options.processes), "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--user", self.user,
                "--ulimit", f"fsize={options.file_size_mb << 20}", "--ulimit", f"cpu={options.cpu_seconds}",
                "--ulimit", f"nofile={OPEN_FILES}:{OPEN_FILES}", "--ulimit", "core=0",
                "--volume", f"{session.data}:{MOUNT}", "--volume", f"{session.cells}:{IN}:ro",
                "--volume", f"{session.outputs}:{OUT}", "--workdir", MOUNT, "--hostname", "sandbox"]
        for name, value in SESSION_ENV.items():
            argv += ["--env", f"{name}={value}"]
        # The process count is --pids-limit's (a container's uid may be shared by others'):
        # RLIMIT_NPROC would count them all.
        limits = {"AS": options.memory_mb << 20, "FSIZE": options.file_size_mb << 20, "NOFILE": OPEN_FILES}
        argv += [options.image, options.python, "-u", "-I", "-c", repl_source(), IN, OUT, json.dumps(limits), "1"]
        return argv[0], argv

    async def stopped(self, session: ReplSession, process: ReplProcess) -> None:
        """Killing the CLI doesn't stop its container: remove it too, waiting (up to 30 s) for the daemon."""
        await super().stopped(session, process)
        try:
            remover = ReplProcess(getattr(self, "docker", self.options.docker),
                                  [self.options.docker, "rm", "--force", self.container(session)],
                                  os.path.join(self.work_dir(), "remove.log"), env=self.environment())
        except OSError:
            return
        remover.close_pipes()
        if await remover.reap(30.0) is None:
            self.reap_later(remover)


def docker_sandbox(options: DockerOptions | None = None) -> DockerSandbox:
    return DockerSandbox(options)


@hookimpl
def register_sandboxes(register: Any) -> None:
    register("docker", docker_sandbox, DockerOptions)


__all__ = ["DockerOptions", "DockerSandbox", "docker_sandbox"]
