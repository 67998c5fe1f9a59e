"""Work spread over a thread pool that never outlives the call that spread it."""

from __future__ import annotations

from concurrent.futures import Executor, wait
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_all(pool: Executor, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`function` of each item, in order, run on `pool`. Returns, or raises the first failure, only
    once every call has ended: a call left running would write into the next Lambda invocation
    (or, in tests, into the next test's tables)."""
    calls = [pool.submit(function, item) for item in items]
    wait(calls)
    return [call.result() for call in calls]
