"""The Files and Uploads APIs through the HTTP server with a large file: the serving process's peak
RSS (VmHWM, reset before each phase) and the throughput of each phase in MB/s, beside a plain file
copy (``shutil.copyfile``) of the same file on the same machine.

    python bench/files.py [--mib 500] [--blob filesystem|memory] [--write docs/performance.md]

Phases, each through the openai SDK against a server in its own process (uvicorn with the settings
of ``supercompat serve``, one API key):
- ``files.create``: the file from disk in one multipart body (``file=open(path, "rb")``);
- ``files.content``: the same file back, streamed to disk (``with_streaming_response``);
- ``uploads.upload_file_chunked``: the file in 64 MiB parts, then completed into a new file.

``--blob filesystem`` (the default) is core's filesystem store (``supercompat.blobs_filesystem``: a
temporary file, fsync'd and renamed into place; read back a MiB at a time). ``--blob memory`` is core's
memory store, which holds every file whole by design. Linux only (reads /proc). Needs supercompat[server].
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from uploads import memory_mib, reset_peak, wait_for_port  # noqa: E402

from report import write_section  # noqa: E402

API_KEY = "sk-bench-files"
MIB = 2**20


def child_serve(port_file: str, blob: str, root: str) -> None:
    import uvicorn

    from supercompat import App
    from supercompat.blobs_filesystem import filesystem_blob_store
    from supercompat.config import ServerOptions
    from supercompat.server import ASGIApp, uvicorn_settings

    options = ServerOptions(api_keys=[API_KEY], body_timeout_seconds=600)
    store = filesystem_blob_store(root) if blob == "filesystem" else None
    app = App(blob_store=store)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    with open(port_file, "w") as f:
        f.write(str(sock.getsockname()[1]))
    settings = uvicorn_settings(options)
    del settings["host"], settings["port"]
    uvicorn.Server(uvicorn.Config(ASGIApp(app, options), log_level="warning", **settings)).run(sockets=[sock])


def timed_phase(pid: int, action: Any) -> tuple[Any, float, float]:
    """``action()``'s result, its seconds, and the server's peak RSS growth over it (MiB)."""
    before = memory_mib(pid)["VmRSS"]
    reset_peak(pid)
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    return result, seconds, memory_mib(pid)["VmHWM"] - before


def measure(path: str, size: int, blob: str, tmp: str) -> dict[str, Any]:
    import openai

    root = os.path.join(tmp, "blobs")
    os.mkdir(root)
    port_file = os.path.join(tmp, "port")
    server = subprocess.Popen([sys.executable, __file__, "--serve", port_file, "--blob", blob,
                               "--root", root])
    try:
        port = wait_for_port(port_file, server)
        client = openai.OpenAI(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0,
                               timeout=600)
        client.files.create(file=("warm.txt", b"warm"), purpose="assistants")  # imports, first request
        rss_before = memory_mib(server.pid)["VmRSS"]

        def create() -> Any:
            with open(path, "rb") as f:
                return client.files.create(file=f, purpose="assistants")

        file, up_s, up_peak = timed_phase(server.pid, create)
        assert file.bytes == size
        out = os.path.join(tmp, "downloaded.bin")

        def download() -> int:
            with client.files.with_streaming_response.content(file.id) as response, open(out, "wb") as f:
                for chunk in response.iter_bytes(MIB):
                    f.write(chunk)
            return os.path.getsize(out)

        got, down_s, down_peak = timed_phase(server.pid, download)
        assert got == size
        os.unlink(out)
        client.files.delete(file.id)

        def chunked() -> Any:
            return client.uploads.upload_file_chunked(file=pathlib.Path(path), purpose="assistants",
                                                      mime_type="application/octet-stream")

        upload, parts_s, parts_peak = timed_phase(server.pid, chunked)
        assert upload.status == "completed" and upload.file.bytes == size
        return {"rss_before": rss_before, "create": (up_s, up_peak), "content": (down_s, down_peak),
                "upload_file_chunked": (parts_s, parts_peak)}
    finally:
        server.terminate()
        server.wait()


def copy_seconds(path: str, tmp: str) -> float:
    target = os.path.join(tmp, "copy.bin")
    started = time.perf_counter()
    shutil.copyfile(path, target)
    seconds = time.perf_counter() - started
    os.unlink(target)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=500)
    parser.add_argument("--blob", choices=("filesystem", "memory"), default="filesystem")
    parser.add_argument("--write", metavar="PAGE", help="write the results into this page")
    parser.add_argument("--note", default="", help="a sentence under the table (the machine's load, say)")
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return child_serve(args.serve, args.blob, args.root)
    size = args.mib * MIB
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "large.bin")
        with open(path, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(MIB))
        copy = copy_seconds(path, tmp)
        result = measure(path, size, args.blob, tmp)
    mb = size / 1e6
    print(json.dumps({**result, "copy_seconds": copy}))
    rows = [f"| `shutil.copyfile` (same disk, no server) | {copy:.2f} s | **{mb / copy:.0f} MB/s** | |"]
    labels = {"create": "`files.create` (one multipart body)",
              "content": "`files.content` (streamed to disk)",
              "upload_file_chunked": "`uploads.upload_file_chunked` (64 MiB parts, then complete)"}
    for phase, label in labels.items():
        seconds, peak = result[phase]
        rows.append(f"| {label} | {seconds:.2f} s | **{mb / seconds:.0f} MB/s** | {peak:.0f} MiB |")
    text = (f"`python bench/files.py --mib {args.mib} --blob {args.blob}`: one {args.mib} MiB file "
            f"({mb:.0f} MB) through `supercompat serve`'s server (uvicorn, one worker) on loopback, memory "
            f"storage, the blob store `{args.blob}`; the server's RSS was {result['rss_before']:.0f} MiB "
            f"before, and each row gives how far its peak (VmHWM, reset before the row) rose above the RSS "
            f"at the row's start. CPython {platform.python_version()}, {platform.machine()}, "
            f"{os.cpu_count()} CPUs.\n\n"
            "| | time | throughput | server's peak growth |\n|---|---:|---:|---:|\n" + "\n".join(rows) + "\n"
            + (f"\n{args.note}\n" if args.note else ""))
    print(text)
    if args.write:
        write_section(args.write, "files", text)


if __name__ == "__main__":
    main()
