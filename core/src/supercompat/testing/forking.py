"""``in_forked_child``: run a function in a child made by ``os.fork()``, as gunicorn --preload, Celery's
prefork pool and multiprocessing do, and get its result back (for tests of adapters after a fork)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any


class ChildFailed(AssertionError):
    pass


def in_forked_child(work: Callable[[], Any], *, timeout: float = 60.0) -> Any:
    """``work()``'s result (it must be JSON-serialisable) from a forked child. Raises ChildFailed with the
    child's error if it raised, died, or was still running after ``timeout`` seconds (it is killed)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports and exits here, whatever happens: never back into the caller's code
        os.close(read_end)
        try:
            outcome = {"ok": work()}
        except BaseException as exc:
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            try:
                with os.fdopen(write_end, "w") as out:
                    out.write(json.dumps(outcome))
            finally:
                os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_end)
            raise ChildFailed(f"the forked child was still running after {timeout:g} s")
        time.sleep(0.01)
    with os.fdopen(read_end) as report:
        outcome = json.loads(report.read() or '{"error": "the child died without reporting"}')
    if "error" in outcome:
        raise ChildFailed(f"in the forked child: {outcome['error']}")
    return outcome["ok"]


def completed_run(client: Any, assistant_id: str) -> str:
    """The status of a run on a new thread, polled to its end."""
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    return client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id,
                                                    poll_interval_ms=1).status


def check_runs_across_fork(client: Any, model: str) -> None:
    """What a client adapter must survive (gunicorn --preload, Celery prefork): ``client`` (a supercompat
    client on it) completes a run, keeping a connection alive; then a forked child completes two runs
    on connections of its own, and the parent still completes one after the fork."""
    assistant = client.beta.assistants.create(model=model)
    assert completed_run(client, assistant.id) == "completed"
    assert in_forked_child(lambda: [completed_run(client, assistant.id) for _ in range(2)]) == ["completed"] * 2
    assert completed_run(client, assistant.id) == "completed"
