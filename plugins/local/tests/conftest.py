"""No test here may reach a network: an audit hook refuses every socket connection (but to a Unix
socket) and every name look-up, in this process and in the processes the tests start
(``NO_NETWORK``), so a model that tried to download anything would fail its test. The embedders are
made once a session: loading a model takes a while, and an embedder serves any number of users."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from supercompat_local import LocalEmbedder, local_embedder

# Source for a process's first lines (``exec`` it): the same guard as this conftest's.
NO_NETWORK = '''
import socket, sys
_REFUSED = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
            "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg"}
def _no_network(event, args):
    if event in _REFUSED:
        sock = args[0] if args else None
        if isinstance(sock, socket.socket) and sock.family == socket.AF_UNIX:
            return
        raise OSError(f"network access in a test: {event} {args[1:]!r}")
sys.addaudithook(_no_network)
'''
exec(NO_NETWORK)


def socket_fds() -> set[str]:
    """The sockets this process has open, whoever opened them (native code too): ``socket:[inode]``."""
    import os

    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.fixture(scope="session")
def minilm() -> Iterator[LocalEmbedder]:
    yield local_embedder("minilm")


@pytest.fixture(scope="session")
def wordllama() -> Iterator[LocalEmbedder]:
    yield local_embedder("wordllama")

