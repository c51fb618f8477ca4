"""Misbehaving readers for test_extraction_sandbox.py: ``sandbox.WORKER_HOOK = "extraction_hooks:act"``
makes the worker call :func:`act` with each file's name before reading it (this directory is on the
parent's ``sys.path``, which the workers get)."""

import os
import signal
import time


def act(filename: str) -> None:
    log = os.environ.get("EXTRACTION_HOOK_LOG")
    if log and filename.startswith("slow"):
        started = time.time()
        time.sleep(0.3)
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {started} {time.time()}\n")
    if filename == "crash.txt":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif filename == "hog.txt":  # 4 GiB, touched, unless an allocation fails first
        hold = [bytearray(64 * 2**20) for _ in range(64)]
        del hold
    elif filename == "spin.txt":
        while True:
            pass
    elif filename == "sleep.txt":
        time.sleep(3600)
