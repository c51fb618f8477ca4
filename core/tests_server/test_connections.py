"""What a client without a key can cost: connections that never complete a request are closed after
the header timeout, the server keeps at most max_connections open (closing the longest idle to make
room), slow bodies end in a 408; so idle and trickling sockets can't lock others out or flood the log."""

from __future__ import annotations

import re
import resource
import socket
import subprocess
import sys
import threading
import time

import httpx2
import openai

from supercompat import App
from supercompat.testing import scripted_client_adapter

from conftest import KEY, serving

IDLE, SLOW = 300, 100


class ServeProcess:
    """`supercompat serve` in its own process with a small open-file limit; ``log`` collects its stderr."""

    def __init__(self, tmp_path, server: str, open_files: int) -> None:
        config = tmp_path / "supercompat.toml"
        config.write_text(f'[client]\nplugin = "scripted"\n[server]\nport = 0\napi_keys = ["{KEY}"]\n{server}')
        limit = (open_files, open_files)
        self.proc = subprocess.Popen([sys.executable, "-m", "supercompat.cli", "serve", "--config", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit))
        self.log = bytearray()
        started = threading.Event()

        def drain() -> None:
            for line in self.proc.stderr:
                self.log += line
                if b"running on http" in line:
                    started.set()

        self.drain = threading.Thread(target=drain, daemon=True)
        self.drain.start()
        if not started.wait(30):
            self.proc.kill()
            raise RuntimeError("the server did not start:\n" + self.log.decode(errors="replace"))
        self.port = int(re.search(rb"running on http://127\.0\.0\.1:(\d+)", self.log).group(1))
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.drain.join(10)
        self.proc.stderr.close()


def open_sockets(port: int, count: int) -> list[socket.socket]:
    """Up to ``count`` connections (the kernel may refuse some once the server's backlog is full)."""
    opened = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        opened.append(s)
    return opened


def closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def test_idle_and_trickling_sockets_without_a_key_lock_nobody_out(tmp_path):
    server = ServeProcess(tmp_path, "max_connections = 64\nheader_timeout_seconds = 2\n", open_files=160)
    sockets: list[socket.socket] = []
    stop = threading.Event()
    try:
        idle = open_sockets(server.port, IDLE)
        slow = open_sockets(server.port, SLOW)
        sockets = idle + slow
        request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n"

        def trickle() -> None:  # one byte per socket every second, never a whole request
            for i in range(len(request)):
                for s in slow:
                    try:
                        s.send(request[i:i + 1])
                    except OSError:
                        pass
                if stop.wait(1.0):
                    return

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        assert len(sockets) > 160  # more than the server could hold open at once

        latencies = []
        with openai.OpenAI(base_url=server.base_url, api_key=KEY, timeout=10, max_retries=0) as client:
            for _ in range(3):
                t0 = time.monotonic()
                a = client.beta.assistants.create(model="m")
                t = client.beta.threads.create(messages=[{"role": "user", "content": "still there?"}])
                run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
                latencies.append(time.monotonic() - t0)
                assert run.status == "completed"
                assert client.beta.threads.messages.list(t.id).data[0].content[0].text.value == "You said: still there?"
        print(f"\nauthenticated flow while {len(sockets)} sockets were open: "
              + ", ".join(f"{x * 1000:.0f} ms" for x in latencies))

        deadline = time.monotonic() + 20  # header timeout 2 s: every one of them is closed long before
        pending = list(sockets)
        while pending and time.monotonic() < deadline:
            pending = [s for s in pending if not closed_by_server(s)]
            time.sleep(0.2)
        assert not pending, f"{len(pending)} of {len(sockets)} idle or trickling connections still open"
    finally:
        stop.set()
        for s in sockets:
            s.close()
        server.close()
    log = bytes(server.log)
    assert b"Too many open files" not in log and b"Traceback" not in log, log[-3000:].decode(errors="replace")
    assert len(log) < 4096, log[-3000:].decode(errors="replace")


def raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` and read until the server closes the connection (bounded by ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
        return received


def port_of(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_a_request_whose_headers_never_end_is_closed():
    with serving(api_keys=[KEY], header_timeout_seconds=0.5) as server:
        assert raw(port_of(server), b"GET /v1/assistants HTTP/1.1\r\nHost: x\r\n") == b""


def test_a_body_that_does_not_arrive_in_time_is_a_408():
    with serving(api_keys=[KEY], body_timeout_seconds=0.5) as server:
        answer = raw(port_of(server), b"POST /v1/assistants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     + KEY.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\"")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
        assert b'"code":"request_timeout"' in body


def test_a_request_answered_before_its_body_is_read_closes_the_connection():
    """No key: a 401 at once, and the rest of a large body is not waited for."""
    with serving(api_keys=[KEY]) as server:
        answer = raw(port_of(server), b"POST /v1/assistants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000\r\n\r\n{")
        assert answer.startswith(b"HTTP/1.1 401") and b"connection: close" in answer.lower()


def test_at_the_cap_the_longest_idle_connection_makes_room():
    with serving(App(client_adapter=scripted_client_adapter()), api_keys=[KEY], max_connections=8,
                 header_timeout_seconds=60) as server:
        idle = open_sockets(port_of(server), 8)
        try:
            with httpx2.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}"},
                               timeout=10) as http:
                assert http.get("/assistants").status_code == 200
            deadline = time.monotonic() + 10
            while not closed_by_server(idle[0]) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert closed_by_server(idle[0]) and not closed_by_server(idle[-1])
        finally:
            for s in idle:
                s.close()


def test_the_cap_leaves_room_in_the_open_file_limit():
    from supercompat.config import ServerOptions
    from supercompat.server import uvicorn_settings

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = uvicorn_settings(ServerOptions(max_connections=10**9))["http"].keywords["limits"]
    assert limits.max_connections <= soft // 2 and uvicorn_settings(ServerOptions())["backlog"] <= soft // 8


def test_running_out_of_file_handles_is_logged_once_a_minute_not_once_a_second(caplog):
    """asyncio logs each failed accept() with a traceback, every second while it lasts."""
    import asyncio

    from supercompat.server import _QuietAcceptErrors

    loop = asyncio.new_event_loop()
    try:
        handler = _QuietAcceptErrors(None)
        for _ in range(600):
            handler(loop, {"message": "socket.accept() out of system resource",
                           "exception": OSError(24, "Too many open files")})
        handler(loop, {"message": "something else"})
    finally:
        loop.close()
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "out of file handles" in m]) == 1
    assert "something else" in messages
