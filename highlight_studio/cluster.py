"""One job per file over many files: on a local process pool, or fanned out over a Ray cluster.

    for event in map_files(job, paths, skip=already_done, ray_address="auto"):
        ...  # Progress, FileDone (with the job's result), FileFailed, then one BatchSummary

A job is a picklable object with ``setup()`` (load the models: called once in each worker
process, not per file) and ``__call__(path)`` (one file's result, returned to the caller). The
caller writes each result as it arrives, so outputs are written in one place (no shared file
system is needed between Ray machines) and atomically by file name. ``skip`` leaves out files
whose output exists (a rerun continues where the last one stopped); a file whose job raises,
or whose worker dies under it, is tried once more on a fresh worker, then reported.

Ray is optional (``pip install 'highlight-studio[cluster]'``); it is imported only when a
``ray_address`` is given. The local pool starts its workers with ``spawn``, so no worker
inherits the caller's threads or a half-initialised library.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import HighlightStudioError
from .events import CancelToken, Progress, check_cancel

STAGE = "files"
_POLL_S = 0.5  # how often a wait for results looks at the cancel flag


class FileJob(Protocol):
    """What :func:`map_files` runs: set up once per worker, then called once per file."""

    def setup(self) -> None: ...

    def __call__(self, path: str) -> Any: ...


@dataclass(frozen=True)
class FileDone:
    """A file's result, or ``skipped`` when its output existed already (``result`` None)."""

    path: str
    result: Any
    attempts: int = 1
    worker: str = ""  # host:pid of the process that computed it
    seconds: float = 0.0  # the job's time in its worker (the last try's)
    skipped: bool = False


@dataclass(frozen=True)
class FileFailed:
    """A file that failed every attempt; ``error`` says why (the last attempt's reason)."""

    path: str
    error: str
    attempts: int


@dataclass(frozen=True)
class BatchSummary:
    """How the batch went: counts, the failures, where it ran and how long it took."""

    done: int
    skipped: int
    failed: list[FileFailed] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    where: str = "local"  # "local" or the Ray address


class ClusterError(HighlightStudioError):
    """Ray is missing, or the cluster cannot be reached."""


# --- what runs in a worker process ------------------------------------------------------------
_job: FileJob | None = None


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_Attempt = tuple[bool, Any, str, float]


def _attempt(job: FileJob, path: str) -> _Attempt:
    """(ok, result or the error message, host:pid, seconds): errors travel back as text, so
    nothing that cannot be pickled has to cross the process boundary."""
    started = time.perf_counter()
    try:
        ok, value = True, job(path)
    except HighlightStudioError as exc:
        ok, value = False, str(exc)
    except Exception as exc:  # a bug in one file's job must not end the batch
        ok, value = False, f"{type(exc).__name__}: {exc}"
    return ok, value, _where(), time.perf_counter() - started


def _pool_setup(job: FileJob) -> None:
    global _job
    job.setup()
    _job = job


def _pool_call(path: str) -> _Attempt:
    assert _job is not None, "the pool's initializer sets the job"
    return _attempt(_job, path)


class _RayWorker:
    """A Ray actor holding one set-up job: the models load once per worker."""

    def __init__(self, job: FileJob) -> None:
        job.setup()
        self.job = job

    def call(self, path: str) -> _Attempt:
        return _attempt(self.job, path)


# --- the driver -------------------------------------------------------------------------------
@dataclass
class _Tries:
    """Files waiting to run and how often each has been tried."""

    pending: deque[str]
    attempts: dict[str, int] = field(default_factory=dict)
    retries: int = 1

    def failed(self, path: str, error: str) -> FileFailed | None:
        """Queue ``path`` again if it has a try left; else its failure."""
        if self.attempts[path] <= self.retries:
            self.pending.append(path)
            return None
        return FileFailed(path, error, self.attempts[path])

    def take(self) -> str:
        path = self.pending.popleft()
        self.attempts[path] = self.attempts.get(path, 0) + 1
        return path


def map_files(
    job: FileJob,
    paths: Iterable[str | os.PathLike[str]],
    *,
    skip: Callable[[str], bool] | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
    worker_gpus: float = 0.0,
    retries: int = 1,
    cancel: CancelToken | None = None,
) -> Iterator[Progress | FileDone | FileFailed | BatchSummary]:
    """Run ``job`` on every path, ``workers`` at a time, yielding each file's outcome as it
    comes (in completion order), then a :class:`BatchSummary`.

    Without ``ray_address`` the files run on a local process pool (``workers`` defaults to
    the usable cores); with one ("auto", or "host:port" of a head node) on a Ray cluster, one
    actor per worker (default: as many as the cluster has CPUs, or GPUs / ``worker_gpus``
    when each actor needs that much of a GPU: Ray hides the GPUs from actors that did not ask
    for one). Raises :class:`ClusterError` when Ray is not installed or the cluster cannot be
    joined, ``Cancelled`` once ``cancel`` is set (the workers are stopped; the files they held
    were never returned, so nothing of theirs was written).
    """
    started = time.perf_counter()
    paths = [os.fspath(p) for p in paths]
    if len(set(paths)) != len(paths):
        raise HighlightStudioError("A file is listed twice; give each file once.")
    todo: deque[str] = deque()
    skipped = 0
    for path in paths:
        if skip is not None and skip(path):
            skipped += 1
            yield FileDone(path, None, attempts=0, skipped=True)
        else:
            todo.append(path)
    tries = _Tries(todo, retries=retries)
    done: list[str] = []
    failed: list[FileFailed] = []

    def outcome(path: str, result: _Attempt) -> Iterator[Progress | FileDone | FileFailed]:
        ok, value, worker, seconds = result
        if ok:
            done.append(path)
            yield FileDone(path, value, tries.attempts[path], worker, seconds)
        else:
            failure = tries.failed(path, value)
            if failure is None:
                return
            failed.append(failure)
            yield failure
        yield Progress(STAGE, skipped + len(done) + len(failed), len(paths), "files",
                       os.path.basename(path))

    yield Progress(STAGE, skipped, len(paths), "files")
    if not todo:  # nothing left to do: no pool to start, no cluster to join
        yield BatchSummary(0, skipped, [], time.perf_counter() - started, 0,
                           ray_address or "local")
        return
    if ray_address is None:
        n = workers or _usable_cores()
        yield from _run_local(job, tries, n, outcome, cancel)
        where = "local"
    else:
        n = yield from _run_ray(job, tries, ray_address, workers, worker_gpus, outcome, cancel)
        where = ray_address
    yield BatchSummary(len(done), skipped, failed, time.perf_counter() - started, n, where)


_Outcome = Callable[[str, _Attempt], Iterator[Any]]


def _usable_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def _run_local(job: FileJob, tries: _Tries, n: int, outcome: _Outcome,
               cancel: CancelToken | None) -> Iterator[Any]:
    """The files on ``n`` spawned processes; a pool broken by a dying worker is replaced and
    the files it held count one attempt each."""
    while tries.pending:
        context = multiprocessing.get_context("spawn")
        pool = futures.ProcessPoolExecutor(n, mp_context=context, initializer=_pool_setup,
                                           initargs=(job,))
        running: dict[futures.Future, str] = {}
        broken = False
        try:
            while tries.pending or running:
                while tries.pending and len(running) < n and not broken:
                    path = tries.take()
                    running[pool.submit(_pool_call, path)] = path
                check_cancel(cancel)
                finished, _ = futures.wait(running, timeout=_POLL_S,
                                           return_when=futures.FIRST_COMPLETED)
                for future in finished:
                    path = running.pop(future)
                    try:
                        result = future.result()
                    except futures.process.BrokenProcessPool:
                        broken = True
                        result = (False, "its worker process died", "", 0.0)
                    yield from outcome(path, result)
                if broken and not running:
                    break
        except BaseException:  # cancelled, interrupted, or the caller stopped reading
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=not broken, cancel_futures=True)


def _stop_workers(pool: futures.ProcessPoolExecutor) -> None:
    """End the pool's worker processes now, not after the files they hold (minutes for a long
    clip): Python 3.14 has ``terminate_workers``; before it, the pool's own process table."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ClusterError("--ray needs Ray, which is not installed: pip install "
                           "'highlight-studio[cluster]' (or pip install ray).") from exc
    return ray


def _run_ray(job: FileJob, tries: _Tries, address: str, workers: int | None, gpus: float,
             outcome: _Outcome, cancel: CancelToken | None) -> Iterator[Any]:
    """The files on Ray actors, one per worker; an actor that dies is replaced and its file
    tried again. Returns the number of actors."""
    ray = _import_ray()
    joined = not ray.is_initialized()
    if joined:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"Cannot join the Ray cluster at {address}: {exc}") from exc
    try:
        resources = ray.cluster_resources()
        fit = resources.get("CPU", 1) if not gpus else resources.get("GPU", 0) / gpus
        if gpus and fit < 1:
            raise ClusterError(f"The Ray cluster at {address} has no GPU for the workers.")
        n = workers or max(1, int(fit))
        actor_class = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=0)(_RayWorker)
        idle = [actor_class.remote(job) for _ in range(min(n, len(tries.pending)))]
        running: dict[Any, tuple[str, Any]] = {}
        while tries.pending or running:
            while tries.pending and idle:
                actor = idle.pop()
                path = tries.take()
                running[actor.call.remote(path)] = (path, actor)
            check_cancel(cancel)
            finished, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_S)
            for ref in finished:
                path, actor = running.pop(ref)
                try:
                    result = ray.get(ref)
                    idle.append(actor)
                except ray.exceptions.RayActorError as exc:  # the worker died (or its setup failed)
                    result = (False, f"its Ray worker died ({_first_line(exc)})", "", 0.0)
                    ray.kill(actor)
                    idle.append(actor_class.remote(job))
                yield from outcome(path, result)
        return n
    finally:
        if joined:
            ray.shutdown()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
