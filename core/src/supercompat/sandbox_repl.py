"""The Python REPL a sandbox session runs (standard library only: it runs under whatever interpreter
the sandbox is given, and its source is passed to that interpreter with ``-c``).

``python -u -I -c <this source> <dir in> <dir out> <limits as JSON> [<replies fd>]``, inside the
sandbox:

- It first lowers its resource limits (soft and hard, so nothing it starts can raise them again):
  ``{"AS": bytes, "CPU": seconds, "FSIZE": bytes, "NOFILE": n, "NPROC": n}``, core dumps off.
- Requests come on stdin, one JSON line each: ``{"run": n}`` runs the cell whose code the host wrote
  to ``<dir in>/cell.py`` (a directory the sandbox can't write); ``{"interrupt": n}`` stops cell n
  (a KeyboardInterrupt in it, as Ctrl-C in Jupyter). End of input: the REPL exits, even mid-cell.
- Replies go on file descriptor 3 (or the one given: 1 where only stdio can be passed in), never
  written by the user's code (its stdout and stderr are the
  file ``<dir out>/output``): ``{"ready": version}`` once, then ``{"done": n, "error": bool,
  "interrupted": bool, "figures": k}`` after each cell.
- A cell's output, in the order written, is ``<dir out>/output`` (truncated before each cell), then
  the ``repr`` of its last expression when that isn't None, or the traceback of what it raised. Its
  matplotlib figures are saved as ``<dir out>/figure-<i>.png`` and closed.

Variables live in one namespace from cell to cell; an exception, ``exit()`` or an interrupt ends the
cell, not the REPL. A process the cell forks that comes back here exits instead.
"""

from __future__ import annotations

import ast
import fcntl
import json
import linecache
import os
import queue
import signal
import sys
import threading
import traceback
from typing import Any

REPLIES_FD = 3


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cell: int | None = None  # the cell running, which an interrupt may stop
        self.running = False  # the user's code is running: SIGINT raises KeyboardInterrupt in it
        self.interrupted = False


def _set_limits(limits: dict[str, int]) -> None:
    import resource

    for name, value in [*limits.items(), ("CORE", 0)]:
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))


def _read_requests(fd: int, state: _State, requests: queue.Queue[dict[str, Any]], main: int) -> None:
    """The host's lines, in a thread: interrupts act at once, the rest queue for the main thread."""
    with os.fdopen(fd, "rb") as lines:
        for line in lines:
            try:
                request = json.loads(line)
            except ValueError:
                continue
            if "interrupt" in request:
                with state.lock:
                    if state.cell == request["interrupt"] and state.running:
                        state.interrupted = True
                        signal.pthread_kill(main, signal.SIGINT)
            else:
                requests.put(request)
    os._exit(0)  # the host has gone (or closed the session): end now, even inside a cell


def _print_exception(error: BaseException) -> None:
    tb = error.__traceback__
    tb = tb.tb_next if tb is not None else None  # the first frame is this module's exec
    try:
        text = "".join(traceback.format_exception(type(error), error, tb))
    except Exception:  # e.g. MemoryError while formatting
        text = f"{type(error).__name__}: {error}\n"
    sys.stderr.write(text)


def _run_cell(source: str, number: int, namespace: dict[str, Any], state: _State) -> bool:
    """Run one cell; whether it raised."""
    filename = f"<cell-{number}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError) as error:  # ValueError: a null byte
        sys.stderr.write("".join(traceback.format_exception_only(type(error), error)))
        return True
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    assert last is None or isinstance(last, ast.Expr)
    try:
        body = compile(tree, filename, "exec")
        echo = compile(ast.Expression(last.value), filename, "eval") if last is not None else None
    except (SyntaxError, ValueError) as error:
        sys.stderr.write("".join(traceback.format_exception_only(type(error), error)))
        return True
    signal.signal(signal.SIGINT, lambda signum, frame: _on_interrupt(state))  # the cell may have changed it
    try:
        state.running = True
        exec(body, namespace)
        if echo is not None:
            value = eval(echo, namespace)
            if value is not None:
                namespace["_"] = value
                sys.stdout.write(repr(value) + "\n")
        state.running = False
        return False
    except KeyboardInterrupt as error:
        state.running = False
        if not state.interrupted:
            _print_exception(error)
        return True
    except BaseException as error:  # SystemExit too: exit() ends the cell, not the session
        state.running = False
        _print_exception(error)
        return True
    finally:
        state.running = False


def _on_interrupt(state: _State) -> None:
    if state.running:
        raise KeyboardInterrupt


def _save_figures(out: str) -> int:
    """Save matplotlib's open figures as PNG files and close them; how many were saved."""
    for name in os.listdir(out):
        if name.startswith("figure-"):
            os.unlink(os.path.join(out, name))
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return 0
    saved = 0
    try:
        for number in pyplot.get_fignums():
            pyplot.figure(number).savefig(os.path.join(out, f"figure-{saved}.png"), format="png")
            saved += 1
    except Exception as error:
        sys.stderr.write(f"(a figure could not be saved: {type(error).__name__}: {error})\n")
    finally:
        try:
            pyplot.close("all")
        except Exception:
            pass
    return saved


def main(cells: str, out: str, limits: dict[str, int], replies_fd: int = REPLIES_FD) -> None:
    _set_limits(limits)
    repl = os.getpid()
    # The protocol's pipes move above the descriptors the cell's output takes (0-2), not inherited.
    replies = os.fdopen(fcntl.fcntl(replies_fd, fcntl.F_DUPFD_CLOEXEC, 10), "w", buffering=1)
    os.close(replies_fd)
    requests_fd = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 10)
    null = os.open(os.devnull, os.O_RDONLY)  # may take 1, if the replies were there
    if null != 0:
        os.dup2(null, 0)
        os.close(null)
    output = os.path.join(out, "output")
    capture = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    for fd in (1, 2):
        if capture != fd:
            os.dup2(capture, fd)
    if capture > 2:
        os.close(capture)
    state = _State()
    requests: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=_read_requests, args=(requests_fd, state, requests, threading.get_ident()),
                     daemon=True).start()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    replies.write(json.dumps({"ready": sys.version.split()[0]}) + "\n")
    while True:
        request = requests.get()
        number = request.get("run")
        if not isinstance(number, int):
            continue
        os.truncate(output, 0)
        try:
            with open(os.path.join(cells, "cell.py"), encoding="utf-8", errors="replace") as file:
                source = file.read()
        except OSError as error:
            source = f"raise OSError({str(error)!r})"
        with state.lock:
            state.cell, state.interrupted = number, False
        try:
            raised = _run_cell(source, number, namespace, state)
        except KeyboardInterrupt:  # an interrupt that came as the cell ended
            raised = False
        if os.getpid() != repl:  # a process the cell forked, back here: it isn't the REPL
            os._exit(0)
        with state.lock:
            state.cell = None
            interrupted = state.interrupted
        try:
            figures = _save_figures(out)
        except BaseException as failure:  # KeyboardInterrupt too: an interrupt late for the cell
            sys.stderr.write(f"(figures could not be saved: {type(failure).__name__})\n")
            figures = 0
        replies.write(json.dumps({"done": number, "error": raised, "interrupted": interrupted,
                                  "figures": figures}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), *map(int, sys.argv[4:5]))
