"""The worker side of :mod:`supercompat.ingest.sandbox`: a process that reads one file at a time, under
the limits each request names, and answers on a pipe. Started by the sandbox, never imported by the
parent; it imports nothing of supercompat beyond the readers (see ``sandbox.BOOT``).

Protocol, one request at a time: the parent writes a JSON line (``filename``, ``path``,
``content_type``, ``timeout``, ``memory``, the readers' limits, ``hook``); the worker answers
``{"started": true}`` at once, then ``{"text": n}`` followed by the text's ``n`` bytes (UTF-8), or
``{"error": kind, ...}``. A worker idle for ``idle`` seconds answers ``{"bye": true}`` to the next
request instead and exits (the parent then uses another), as it does when its input closes.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import resource
import select
import signal
import sys
import warnings
from typing import IO, Any

from . import extraction
from .extraction import IngestError

_LIMITS = ("MAX_PDF_PAGES", "MAX_UNPACKED_BYTES", "MAX_UNPACKED_XML_BYTES")


def main(idle: float) -> None:
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print() of a library goes to stderr, never into the replies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which closes our input
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Damaged files make the readers warn about each thing they skip: noise, not news.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    pending = b""
    while True:
        while b"\n" not in pending:
            if not select.select([0], [], [], idle)[0]:
                _send(replies, {"bye": True})
                return
            chunk = os.read(0, 65536)
            if not chunk:
                return  # the parent has gone
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        request = json.loads(line)
        _send(replies, {"started": True})
        if not _serve(request, replies):
            return


def _serve(request: dict[str, Any], replies: IO[bytes]) -> bool:
    """Read the file ``request`` names and answer; False if this worker must not take another."""
    timeout, memory = float(request["timeout"]), int(request["memory"])
    for name in _LIMITS:
        setattr(extraction, name, int(request["limits"][name]))
    _limit(resource.RLIMIT_AS, memory)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time counts over the worker's life: this file gets ``timeout`` more seconds of it (past
    # them the kernel sends SIGXCPU, which ends the worker, even if the parent has gone).
    _limit(resource.RLIMIT_CPU, math.ceil(usage.ru_utime + usage.ru_stime + timeout) + 1)
    try:
        if request.get("hook"):
            module, _, function = request["hook"].partition(":")
            getattr(importlib.import_module(module), function)(request["filename"])
        with open(request["path"], "rb") as source:
            text = extraction.extract_from(request["filename"], source, request["content_type"], timeout)
        data = text.encode("utf-8", "surrogatepass")
        del text
    except IngestError as exc:
        _send(replies, {"error": "ingest", "code": exc.code, "message": exc.message})
        return True
    except MemoryError:
        _send(replies, {"error": "memory"})
        return False  # what it left behind (fragments, caches) is no base for the next file
    except OSError as exc:
        _send(replies, {"error": "os", "errno": exc.errno, "message": exc.strerror or str(exc)})
        return True
    _send(replies, {"text": len(data)}, data)
    return True


def _limit(kind: int, soft: int) -> None:
    _, hard = resource.getrlimit(kind)
    resource.setrlimit(kind, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _send(replies: IO[bytes], header: dict[str, Any], payload: bytes = b"") -> None:
    replies.write(json.dumps(header).encode() + b"\n")
    if payload:
        replies.write(payload)
    replies.flush()


if __name__ == "__main__":  # pragma: no cover - started by sandbox.BOOT
    main(float(sys.argv[1]))
