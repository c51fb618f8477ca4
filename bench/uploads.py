"""Memory of a large multipart upload (a file of SIZE MiB on disk, sent by the openai SDK as
``files={"file": open(...)}``), in process and through the HTTP server: how much the serving process
grows (its peak RSS, VmHWM, over its RSS before), and the client process too.

    python bench/uploads.py [--mib 100] [--write docs/performance.md]

Each measurement runs in a fresh process. "streamed" is the route declared as a form
(``body=Multipart(...)``): the body is parsed as it arrives and the file spooled to a temporary file.
"whole body" is the path every body took before forms existed: read whole into one buffer (in
process ``request.read()``, over HTTP the server's JSON buffer, ``max_request_bytes`` raised to let
it in), to a route that only measures it. Linux only (reads /proc). Needs supercompat[server].
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from report import write_section  # noqa: E402

API_KEY = "sk-bench-uploads"
MODES = ("in process, streamed", "in process, whole body", "server, streamed", "server, whole body")


def memory_mib(pid: int | str = "self") -> dict[str, float]:
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    return {key: int(re.search(key + r":\s+(\d+)", status).group(1)) / 1024 for key in ("VmRSS", "VmHWM")}


def reset_peak(pid: int | str = "self") -> None:
    """Start VmHWM afresh from the current RSS (Linux >= 4.0), so the peak is this upload's."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def bench_app(whole: bool) -> Any:
    """The test upload route as a form (streamed), or as a JSON route whose handler reads only the
    body's length (the whole-body path)."""
    from supercompat.forms import MIB, Multipart
    from supercompat.testing.uploads import upload_test_app

    app = upload_test_app(Multipart(max_file_bytes=512 * MIB))

    async def length(app: Any, request: Any) -> dict[str, Any]:
        return {"received": len(request.body)}

    if whole:
        app.add_route("POST", "/bench/whole", length)
    return app


def upload(client: Any, path: str, whole: bool) -> Any:
    with open(path, "rb") as f:
        if whole:
            return _post_whole(client, f)
        return client.post("/test/upload", cast_to=object, files={"file": f},
                           options={"headers": {"Content-Type": "multipart/form-data"}})


def _post_whole(client: Any, f: Any) -> Any:
    """The SDK's multipart body (built by httpx2 from the file, streamed), labelled JSON, so that the
    JSON route reads it whole."""
    import httpx2

    stream = httpx2.Request("POST", "http://x", files={"file": f})
    return client.post("/bench/whole", cast_to=object, content=iter(stream.stream),
                       options={"headers": {"Content-Type": "application/json",
                                            "Content-Length": stream.headers["content-length"]}})


def child_in_process(path: str, whole: bool) -> dict[str, Any]:
    import openai

    from supercompat import SupercompatTransport

    client = openai.OpenAI(api_key="sk-x", base_url="http://test/v1", max_retries=0,
                           http_client=openai.DefaultHttpxClient(transport=SupercompatTransport(bench_app(whole))))
    small = os.path.join(os.path.dirname(path), "small.bin")
    upload(client, small, whole)  # warm: imports, the core loop, the first request
    before = memory_mib()
    reset_peak()
    started = time.perf_counter()
    answer = upload(client, path, whole)
    seconds = time.perf_counter() - started
    after = memory_mib()
    return {"answer": _summary(answer), "seconds": seconds, "rss_before": before["VmRSS"], "peak": after["VmHWM"]}


def _summary(answer: Any) -> Any:
    if "files" in answer:
        return {"size": answer["files"][0]["size"]}
    return answer


def child_serve(port_file: str, whole: bool, mib: int) -> None:
    import uvicorn

    from supercompat.config import ServerOptions
    from supercompat.server import ASGIApp, uvicorn_settings

    options = ServerOptions(api_keys=[API_KEY], max_request_bytes=(mib + 16) * 2**20, body_timeout_seconds=600)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    with open(port_file, "w") as f:
        f.write(str(sock.getsockname()[1]))
    settings = uvicorn_settings(options)
    del settings["host"], settings["port"]
    config = uvicorn.Config(ASGIApp(bench_app(whole), options), log_level="warning", **settings)
    uvicorn.Server(config).run(sockets=[sock])


def wait_for_port(port_file: str, server: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while True:
        if os.path.exists(port_file):
            with open(port_file) as f:
                written = f.read()
            if written:
                return int(written)
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)


def child_server(path: str, whole: bool, mib: int) -> dict[str, Any]:
    import openai

    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        server = subprocess.Popen([sys.executable, __file__, "--serve", port_file, "--mib", str(mib)]
                                  + (["--whole"] if whole else []))
        try:
            port = wait_for_port(port_file, server)
            client = openai.OpenAI(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=2)
            small = os.path.join(os.path.dirname(path), "small.bin")
            upload(client, small, whole)  # warm, and proof the server is up
            before = memory_mib(server.pid)
            reset_peak(server.pid)
            reset_peak()
            client_before = memory_mib()
            started = time.perf_counter()
            answer = upload(client, path, whole)
            seconds = time.perf_counter() - started
            after = memory_mib(server.pid)
            return {"answer": _summary(answer), "seconds": seconds, "rss_before": before["VmRSS"],
                    "peak": after["VmHWM"], "client_rss_before": client_before["VmRSS"],
                    "client_peak": memory_mib()["VmHWM"]}
        finally:
            server.terminate()
            server.wait()


def measure(mode: str, path: str, mib: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--file", path, "--mib", str(mib)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--write", metavar="PAGE", help="write the results into this page (docs/performance.md)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return child_serve(args.serve, args.whole, args.mib)
    if args.child:
        whole = args.child.endswith("whole body")
        run = child_in_process if args.child.startswith("in process") else (
            lambda p, w: child_server(p, w, args.mib))
        print(json.dumps(run(args.file, whole)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "upload.bin")
        with open(path, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(2**20))
        with open(os.path.join(tmp, "small.bin"), "wb") as f:
            f.write(os.urandom(2**20 + 1))  # spooled to disk: the warm-up goes down the same path
        results = {mode: measure(mode, path, args.mib) for mode in MODES}
    rows = []
    for mode, r in results.items():
        client = (f"{r['client_peak'] - r['client_rss_before']:.0f} MiB" if "client_peak" in r else "(same process)")
        rows.append(f"| {mode} | {r['rss_before']:.0f} MiB | {r['peak']:.0f} MiB | "
                    f"**{r['peak'] - r['rss_before']:.0f} MiB** | {client} | {r['seconds']:.2f} s |")
        print(mode, r)
    text = (f"`python bench/uploads.py --mib {args.mib}`: one upload of a {args.mib} MiB file from disk "
            f"(`files={{\"file\": open(path, \"rb\")}}`, the openai SDK's multipart body) to a test route; RSS "
            f"of the process that serves it, before and at its peak during the upload (VmHWM, reset just "
            f"before), and what the client process grew by. CPython {platform.python_version()}, "
            f"{platform.machine()}.\n\n"
            "| | RSS before | peak | growth | client's growth | time |\n|---|---:|---:|---:|---:|---:|\n"
            + "\n".join(rows) + "\n")
    print(text)
    if args.write:
        write_section(args.write, "uploads", text)


if __name__ == "__main__":
    main()
