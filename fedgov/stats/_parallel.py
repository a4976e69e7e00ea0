"""Spreading the independent parts of a fold over the machine's cores.

Counting one feature never touches another, and numpy releases the GIL in
the ufuncs, ``take`` and ``bincount`` calls the binner is made of, so the
features of a batch can be counted on several threads at once: measured on
two cores, 20 features of 262,144 rows take 37 ms on one thread and 21 ms
on two (1.75x). The counts are the same whatever the thread count, because
each feature's counts are computed by one thread from the same values.

One process-wide pool serves every fold. :func:`run_all` hands out tasks
one at a time to whichever thread is free, the calling thread included, and
never waits for a worker that has not started (the caller has then run
everything itself), so a fold issued from inside a pool worker (or from many
threads at once) never waits on a queue it is itself blocking: it cannot
deadlock.

``FEDGOV_STATS_THREADS`` sets the number of threads (``1`` turns the pool
off); the default is the number of cores this process may use, at most 4.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from fedgov.errors import ConfigError

__all__ = ["MIN_PARALLEL_VALUES", "run_all", "threads"]

T = TypeVar("T")

MIN_PARALLEL_VALUES = 1 << 18
"""Below this many values in a batch, threads cost more than they save (~50 us a hand-off)."""
_MAX_DEFAULT_THREADS = 4

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0


def threads() -> int:
    """Threads a fold may use, the caller's included (``FEDGOV_STATS_THREADS`` or the cores)."""
    raw = os.environ.get("FEDGOV_STATS_THREADS", "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            raise ConfigError(
                f"FEDGOV_STATS_THREADS must be a whole number of threads, got {raw!r}; "
                "unset it to use every core"
            ) from None
        return max(1, n)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_DEFAULT_THREADS))


def _shared_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_workers
    with _lock:
        if _pool is None or _pool_workers < workers:  # grows if the setting does
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fedgov-fold")
            _pool_workers = workers
        return _pool


def run_all(tasks: Sequence[Callable[[], T]], *, values: int) -> list[T]:
    """Results of ``tasks`` in order, computed on up to :func:`threads` threads.

    ``values`` (how many numbers the tasks touch in all) decides whether
    threads are worth it. Each thread, the caller's included, takes the next
    task not yet taken until none is left, so a thread that drew cheap tasks
    takes more of them. The caller never waits for a worker that has not
    started: it has then taken every task itself.
    """
    n = min(threads(), len(tasks))
    if n <= 1 or values < MIN_PARALLEL_VALUES:
        return [task() for task in tasks]
    order = itertools.count()  # next() is atomic under the GIL: each index is taken once
    size = len(tasks)

    def take() -> list[tuple[int, T]]:
        done: list[tuple[int, T]] = []
        while (i := next(order)) < size:
            done.append((i, tasks[i]()))
        return done

    pool = _shared_pool(n - 1)
    pending: list[Future[list[tuple[int, T]]]] = [pool.submit(take) for _ in range(n - 1)]
    done = take()
    for future in pending:
        if not future.cancel():  # started: wait for the task it holds
            done += future.result()
    results: list[T | None] = [None] * size
    for i, value in done:
        results[i] = value
    return results  # type: ignore[return-value]  # every slot was filled above
