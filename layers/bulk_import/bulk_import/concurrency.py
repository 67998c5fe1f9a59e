"""Work spread over a thread pool that never outlives the call that spread it."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, wait
from typing import TypeVar

#: The name of every thread pool of the package starts with it: a profiler, or the benchmark that
#: counts a function's CPU time (bench/import_run.py), tells the package's threads from others.
THREAD_NAME_PREFIX = "bulk-import-"

T = TypeVar("T")
R = TypeVar("R")


def map_all(pool: Executor, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`function` of each item, in order, run on `pool`. Returns, or raises the first failure, only
    once every call has ended: a call left running would write into the next Lambda invocation
    (or, in tests, into the next test's tables).

    Each call runs in a copy of the caller's context, so context variables (Powertools' logging
    keys, the function the local functions host is running) follow the work into the pool's
    threads; a copy per call, because one context cannot be entered by two threads at once, and so
    that what a call sets stays its own."""
    calls = [pool.submit(contextvars.copy_context().run, function, item) for item in items]
    wait(calls)
    return [call.result() for call in calls]
