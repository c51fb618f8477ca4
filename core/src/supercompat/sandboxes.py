"""Sandboxes: where code_interpreter runs the model's code, a plugin kind like the embedder
(``[sandbox]`` in ``supercompat.toml``, hook ``register_sandboxes``).

A :class:`Sandbox` opens :class:`SandboxSession` s: one stateful Python process each (variables,
imports and files persist from one cell to the next; an exception ends the cell, not the session),
with a working directory, ``/mnt/data``, that the host reads and writes through the session. The
code_interpreter tool keeps one session per thread until it has been idle for a while.

What a sandbox must stop is the model's code reaching anything but its session: the host's files,
the network (loopback services included), other sessions, and the host's memory, CPU, disk and
process table beyond its limits. ``supercompat.testing.SandboxTests`` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MOUNT = "/mnt/data"  # the session's files, as its code sees them


NO_SANDBOX_HELP = (
    "code_interpreter needs a sandbox to run code in, and none is available: install bubblewrap "
    "(Debian and Ubuntu: apt-get install bubblewrap), or configure one in supercompat.toml "
    "([sandbox] plugin = \"bubblewrap\" or \"docker\"; see docs/sandboxes.md). Code is never run "
    "outside a sandbox.")


class SandboxUnavailable(Exception):
    """The sandbox can't run here (its program is missing, the kernel refuses it): the message says
    how to install or configure one."""


@dataclass(frozen=True, slots=True)
class SandboxFile:
    """A file of the session's ``/mnt/data``: its ``path`` there (``/mnt/data/out/chart.png``), its size
    in bytes and when it was last written (seconds since the epoch)."""

    path: str
    size: int
    modified: float


@dataclass(frozen=True, slots=True)
class Execution:
    """What one cell did.

    ``logs``: what it wrote to stdout and stderr, in order, then, Jupyter-style, the ``repr`` of its
    last expression if that isn't None, or the traceback of the exception that ended it. ``images``:
    the PNG bytes of the figures it drew (matplotlib's open figures at the end of the cell, which are
    then closed). ``error``: it raised (``logs`` ends with the traceback). ``timed_out``: it was stopped
    at its time limit (``logs`` says so); the session goes on, though state the cell was building
    may be lost if the sandbox had to restart it (``restarted``)."""

    logs: str
    images: tuple[bytes, ...] = ()
    error: bool = False
    timed_out: bool = False
    restarted: bool = False


@runtime_checkable
class SandboxSession(Protocol):
    async def run(self, code: str, *, timeout: float) -> Execution:
        """Run one cell. Cancelling the call stops the code at once (the session stays usable)."""

    async def put(self, path: str, data: bytes) -> str:
        """Write a file under ``/mnt/data`` (``path`` relative to it, or absolute within it); returns its
        absolute path there. Refuses paths that leave ``/mnt/data``."""

    async def get(self, path: str) -> bytes | None:
        """The bytes of a file under ``/mnt/data`` (``path`` as for ``put``); None if there is none."""

    async def files(self) -> list[SandboxFile]:
        """Every regular file under ``/mnt/data``, in path order."""

    async def close(self) -> None:
        """End the session: its process and its files are gone."""


@runtime_checkable
class Sandbox(Protocol):
    async def open(self) -> SandboxSession:
        """A new session. Raises :class:`SandboxUnavailable` when the sandbox can't run here."""

    async def close(self) -> None:
        """Close every session still open."""


__all__ = ["MOUNT", "NO_SANDBOX_HELP", "Execution", "Sandbox", "SandboxFile", "SandboxSession", "SandboxUnavailable"]
