"""Background work under leases: what one process starts, another finishes if the first one dies.

Every piece of background work (a run, a file ingestion...) is held under a *lease* in storage. Its
holder renews the lease at every heartbeat; a lease not renewed for ``orphan_after`` seconds has
lapsed (its process crashed or was killed), and whichever process sweeps first claims it, atomically,
and takes the work over. The storage contract is ``renew_leases`` and ``claim_lapsed``, keyed by a
lease kind: ``"run"`` for runs (the lease lives on the run's own row, renewed by every write of the
run, so a run costs no writes of its own) and a job kind for everything else (a row of the jobs
collection: ``create_job``, ``update_job``, ``cancel_job``). A job's lease is held per attempt: the
heartbeat renews ``(job id, attempt)``, so a holder whose job was claimed renews nothing of it.

One loop per App does it all (``keep_leases``, started by ``RunEngine.watch``): every
``heartbeat_interval`` it renews what this process holds, and every ``sweep_interval`` (every
heartbeat while it holds something) it claims the lapsed leases of every kind it knows. While the
App closes it goes on renewing (the runs and jobs given the grace keep their leases) but claims
nothing; ``App.aclose`` stops it once both have shut down.

Jobs: a kind is registered with a handler, ``app.jobs.register(kind, handler)``; ``await
app.jobs.submit(kind, payload)`` stores the job and runs ``await handler(job, context)`` here. A job
whose holder died runs again in the process that claims it, with ``attempt`` one higher and the
payload of its last ``context.checkpoint(payload)``; after ``max_attempts`` the claim ends it failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

from . import loop as _loop
from .errors import APIError, InvalidRequest
from .ids import new_id
from .storage import JOB_RUNNING, RUN_LEASE, Obj

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("supercompat")

MAX_ATTEMPTS = 3  # runs of a job (the first and its reclaims) before a claim gives up on it


class LeaseHolder(Protocol):
    """The work of one lease kind in this process, as the heartbeat and the sweep see it."""

    kind: str

    def held(self) -> Collection[Any]:
        """The leases this process holds and is working on now, renewed at every heartbeat, as
        ``renew_leases`` takes them: run ids for runs, ``(job id, attempt)`` pairs for jobs."""

    def cancel(self, lease_id: str) -> None:
        """Another process requested the cancel of ``lease_id``, held here."""

    async def reclaim(self, obj: Obj) -> None:
        """This process has just claimed ``obj``, whose holder died: finish it (or take it over)."""


async def renew_and_reclaim(storage: Any, holders: Collection[LeaseHolder],
                            silent_since: float | None) -> None:
    """One heartbeat: renew every lease held here (passing on the cancels requested elsewhere); then,
    with ``silent_since``, claim and reclaim the leases of every kind silent since then."""
    for holder in holders:
        if held := holder.held():
            for lease_id in await storage.renew_leases(holder.kind, list(held)):
                holder.cancel(lease_id)
    if silent_since is not None:
        for holder in holders:
            for obj in await storage.claim_lapsed(holder.kind, silent_since):
                await holder.reclaim(obj)


class LeaseKeeper(Protocol):
    """What ``keep_leases`` drives (the RunEngine)."""

    heartbeat_interval: float
    sweep_interval: float

    def holds_leases(self) -> bool:
        """Whether anything runs here whose lease the heartbeat renews."""

    async def beat(self, sweep: bool) -> None:
        """Renew the leases held here; with ``sweep``, claim the lapsed ones too."""


async def keep_leases(keeper_ref: weakref.ref[LeaseKeeper]) -> None:
    """The background loop of one App for as long as its keeper exists: ``beat`` every
    ``heartbeat_interval``, sweeping at each while it holds leases and every ``sweep_interval`` while
    idle. Holds the keeper only while beating, so an App nobody uses any more is collected (at a
    cyclic garbage collection: the App and its engine reference each other), and its sweeps stop."""
    last_sweep = time.monotonic()
    failing = False
    while (keeper := keeper_ref()) is not None:
        pause = min(keeper.heartbeat_interval, keeper.sweep_interval)
        del keeper
        await asyncio.sleep(pause)
        if (keeper := keeper_ref()) is None:
            break
        sweep = time.monotonic() - last_sweep >= keeper.sweep_interval
        try:
            sweep = sweep or keeper.holds_leases()
            await keeper.beat(sweep)
            if sweep:
                last_sweep = time.monotonic()
            failing = False
        except Exception as exc:  # storage unreachable for a moment: try again at the next beat
            if not failing:  # once per outage, not at every beat of it
                if isinstance(exc, APIError):  # str(): the detail a client isn't shown (where, and why)
                    log.warning("supercompat: lease heartbeat failed: %s", exc)
                else:
                    log.exception("supercompat: lease heartbeat failed")
            failing = True
        del keeper


# -- jobs ---------------------------------------------------------------------------------------------
class LeaseLost(Exception):
    """The job is no longer this process's to write: another process claimed it (this one was silent
    too long), or it ended. Raised by ``JobContext.checkpoint``; the handler should just stop."""


class JobContext:
    """What a job's handler gets besides the job: the App (its adapters), its storage, and
    ``checkpoint`` to save progress. ``job`` is the job as last written by this attempt."""

    def __init__(self, jobs: Jobs, job: Obj) -> None:
        self.job = job
        self.app = jobs.app
        self.storage = jobs.app.storage

    @property
    def payload(self) -> Any:
        return self.job["payload"]

    async def checkpoint(self, payload: Any) -> None:
        """Store ``payload`` as the job's progress (and renew its lease): a process that takes the job
        over after a crash starts from it. Raises LeaseLost if the job isn't this process's any more."""
        new = await self.storage.update_job(self.job["id"], self.job["attempt"], {"payload": payload})
        if new is None:
            raise LeaseLost(self.job["id"])
        self.job = new


JobHandler = Callable[[Obj, JobContext], Awaitable[None]]
GivenUp = Callable[[Obj], Awaitable[None]]  # what a kind does with a job given up (see Jobs.register)


class _JobKind:
    """One registered kind, as a LeaseHolder."""

    def __init__(self, jobs: Jobs, kind: str, handler: JobHandler, given_up: GivenUp | None) -> None:
        self.jobs, self.kind, self.handler, self.given_up = jobs, kind, handler, given_up

    def held(self) -> Collection[tuple[str, int]]:
        return [(job_id, job["attempt"]) for job_id, (job, _) in self.jobs._running.items()
                if job["kind"] == self.kind]

    def cancel(self, lease_id: str) -> None:
        self.jobs._cancel_here(lease_id)

    async def reclaim(self, obj: Obj) -> None:
        if self.jobs.app.closing:
            return  # claimed just as this App began to close: the lease lapses again, for another process
        running = self.jobs._running.get(obj["id"])
        if running is not None:
            # Our own attempt, silent too long (a storage outage): the claimed attempt replaces it.
            running[1].cancel()
        self.jobs._start(obj, self.handler)


class Jobs:
    """The jobs of one App (``app.jobs``): the kinds this process can run, and those running here."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.max_attempts = MAX_ATTEMPTS
        self._kinds: dict[str, _JobKind] = {}
        self._start_afresh()

    def _start_afresh(self) -> None:
        # job id -> (the job as started here, its task)
        self._running: dict[str, tuple[Obj, asyncio.Task[None]]] = {}
        self._cancelled: set[str] = set()  # ids cancelled here, as opposed to stopped by a shutdown

    def after_fork(self) -> None:
        """In a forked child: the jobs running at the fork are the parent's, which goes on with them."""
        _loop.keep_inherited(self._running)
        self._start_afresh()

    def register(self, kind: str, handler: JobHandler, *, given_up: GivenUp | None = None) -> None:
        """Run jobs of ``kind`` with ``await handler(job, context)`` (submitted here, or reclaimed from a
        dead process). A handler may run more than once for one job (after a crash): make it resumable
        from the job's payload, saved with ``context.checkpoint``. ``given_up``: called with a job of
        the kind once it is given up (its processes kept dying, see ``max_attempts``), for what the
        handler would have ended had it lived."""
        if kind == RUN_LEASE or kind in self._kinds:
            raise ValueError(f"the job kind {kind!r} is already registered")
        self._kinds[kind] = _JobKind(self, kind, handler, given_up)

    def holders(self) -> list[LeaseHolder]:
        return list(self._kinds.values())

    def holds_leases(self) -> bool:
        """Whether jobs run here now (whose leases the heartbeat renews)."""
        return bool(self._running)

    async def submit(self, kind: str, payload: Any, *, job_id: str | None = None) -> Obj:
        """Store a job of ``kind`` and start it here, on the running loop (the core loop). Returns it.
        ``job_id``: its id, if the caller recorded it beforehand (``new_id("job")``; by default a new
        one). Refused (a 503 APIError) once the App is closing: nothing would be left to run it."""
        job = await self.create(kind, payload, job_id=job_id)
        self.start(job)
        return job

    async def create(self, kind: str, payload: Any, *, job_id: str | None = None) -> Obj:
        """Store a job of ``kind`` without starting it: :meth:`start` runs it here, and if this process
        stops first, the job's lease lapses and whichever process claims it runs it. So work that must
        not be lost to a crash is stored as a job *before* what it works on is (as ``submit``)."""
        if self.app.closing:
            raise APIError("The server is shutting down: no new job can start.", status=503,
                           type="server_error")
        if kind not in self._kinds:
            raise InvalidRequest(f"No job kind {kind!r} is registered.")
        job = {"id": job_id or new_id("job"), "object": "job", "kind": kind, "status": JOB_RUNNING,
               "attempt": 1, "created_at": int(time.time()), "finished_at": None, "cancel_requested": False,
               "payload": payload, "last_error": None}
        return await self.app.storage.create_job(job)

    def start(self, job: Obj) -> None:
        """Run a job made by :meth:`create` here, on the running loop."""
        self._start(job, self._kinds[job["kind"]].handler)

    async def cancel(self, job_id: str) -> Obj | None:
        """Request the cancel of a job: at once if it runs here, else at its holder's next heartbeat."""
        job = await self.app.storage.cancel_job(job_id)
        self._cancel_here(job_id)
        return job

    async def wait(self, job_id: str) -> Obj | None:
        """The job once it has ended, if it runs here; as stored now otherwise."""
        running = self._running.get(job_id)
        if running is not None:
            await asyncio.shield(running[1])
        return await self.app.storage.get_job(job_id)

    def _cancel_here(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is not None and not running[1].done():
            self._cancelled.add(job_id)
            running[1].cancel()

    def _start(self, job: Obj, handler: JobHandler) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job, handler))
        self._running[job["id"]] = (job, task)
        _loop.hold_while_running(task)

        def forget(done: asyncio.Task[None]) -> None:
            if self._running.get(job["id"], (None, None))[1] is done:
                del self._running[job["id"]]
            self._cancelled.discard(job["id"])

        task.add_done_callback(forget)
        self.app.engine.watch()  # its heartbeat renews the job's lease

    async def _run(self, job: Obj, handler: JobHandler) -> None:
        if job["cancel_requested"]:  # claimed with a cancel pending: nothing left to do but record it
            await self._end(job, "cancelled")
            return
        if job["attempt"] > self.max_attempts:  # it brought down every process that ran it, or kept dying
            await self._end(job, "failed", APIError(
                f"The job was given up after {self.max_attempts} attempts: the processes running it stopped.",
                status=500, type="server_error"))
            registered = self._kinds.get(job["kind"])
            if registered is not None and registered.given_up is not None:
                try:
                    await registered.given_up(job)
                except Exception:
                    log.exception("supercompat: the given_up hook of job %s (%s) failed", job["id"],
                                  job["kind"])
            return
        context = JobContext(self, job)
        try:
            await handler(job, context)
        except LeaseLost:
            return  # another process has it now
        except asyncio.CancelledError:
            if job["id"] not in self._cancelled:
                raise  # a shutdown: the lease lapses, and another process (or this one, later) resumes it
            await self._end(context.job, "cancelled")
        except Exception as err:
            log.exception("supercompat: job %s (%s) failed", job["id"], job["kind"])
            await self._end(context.job, "failed", err)
        else:
            await self._end(context.job, "completed")

    async def _end(self, job: Obj, status: str, err: BaseException | None = None) -> None:
        from .runs.engine import last_error  # the run's last_error, the same redaction

        changes: dict[str, Any] = {"status": status, "finished_at": int(time.time())}
        if err is not None:
            changes["last_error"] = last_error(err)
        try:
            await self.app.storage.update_job(job["id"], job["attempt"], changes)  # None: not ours any more
        except Exception:
            log.exception("supercompat: could not record the end of job %s", job["id"])

    async def shutdown(self, grace: float) -> None:
        """Let the jobs running here finish for up to ``grace`` seconds, then stop the rest without
        recording anything: their leases lapse, and another process resumes them from their last
        checkpoint (a job is resumable; a run, by contrast, is ended by RunEngine.shutdown)."""
        running = [task for _, task in self._running.values() if not task.done()]
        if running:
            await asyncio.wait(running, timeout=grace)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=max(grace, 1.0))


__all__ = ["MAX_ATTEMPTS", "GivenUp", "JobContext", "JobHandler", "Jobs", "LeaseHolder", "LeaseKeeper",
           "LeaseLost", "keep_leases", "renew_and_reclaim"]
