"""The invocation's deadline: the moment by which a function's requests to the table have ended, so
that it answers before Lambda stops it. An API function that cannot finish by then answers 503 with
Retry-After in its dialect (StoreUnavailable); a worker task fails its attempt with StoreUnavailable,
which Step Functions retries with backoff (statemachine/import.asl.json). Every write is idempotent
by a durable key (docs/worker.md), so an attempt that ends early changes no count.

One retry layer, bounded by the deadline. The arithmetic, in one place (the DynamoDB client's
configuration, dal/dynamodb/__init__.py, and the store's loops, dal/dynamodb/table.py, use these
constants):

- deadline = the invocation's remaining time (context.get_remaining_time_in_millis()) - MARGIN_SECONDS.
  The margin (1 s) is what raising, answering, and flushing the logs and metrics take, with room.
- One HTTP attempt lasts at most ATTEMPT_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT = 1 + 2 = 3 s
  (botocore's timeouts, each of one socket operation; DynamoDB answers in milliseconds).
- botocore (standard mode) retries throttling, 5xx and connection errors: at most BOTOCORE_ATTEMPTS
  = 4 attempts of a request, waiting before attempt n + 1 at most botocore_wait_bound(n) =
  min(2^(n-1), 20) s: 1, 2, then 4 s (plus up to 5 s if DynamoDB sent x-amz-retry-after).
- The store retries only what botocore does not: a transaction canceled by conflicts, statements
  DynamoDB refused one by one in a BatchExecuteStatement, unprocessed items or keys. At most
  STORE_ATTEMPTS = 10 sends of a request, after jittered waits of at most min(2, 0.025 * 2^n) s.
- No attempt starts unless it can end by the deadline: the store sends a request only while
  ATTEMPT_SECONDS remain; it waits to send again, and lets botocore retry (a veto on botocore's
  needs-retry event), only while the wait + ATTEMPT_SECONDS remain. So the last request to the
  table has ended by the deadline, and the function answers by its Timeout - MARGIN_SECONDS (and
  then some milliseconds of its own work; its few S3 and Step Functions requests are bounded by
  their clients' 4 attempts, dal/s3.py and dal/stepfunctions.py, not by the deadline).
- Requests: one request of the store goes out at most STORE_ATTEMPTS * BOTOCORE_ATTEMPTS = 40 times
  (each send retried by botocore, then answered with a conflict or unprocessed items); throttled
  or failing for good, at most BOTOCORE_ATTEMPTS = 4 times: a throttle botocore gave up on is not
  retried again by the store. A status read (one BatchGetItem) on a throttled table: at most 4
  requests, and its 503 after at most 1 + 2 + 4 s of botocore's waits and the attempts themselves,
  and in any case by its deadline (9 s after it starts, for a 10 s API function), which stops the
  retries earlier when attempts are slow.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

MARGIN_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
BOTOCORE_ATTEMPTS = 4
STORE_ATTEMPTS = 10
#: botocore's standard mode: a throttled attempt n is followed by a wait of rand(0, 1) * min(2^(n-1), 20) s
#: (1 s is its throttling base, larger than any other error's), raised up to 5 s more by x-amz-retry-after.
_BOTOCORE_THROTTLING_BASE, _BOTOCORE_MAX_WAIT, _BOTOCORE_RETRY_AFTER_MAX = 1.0, 20.0, 5.0


def botocore_wait_bound(attempts: int, retry_after_header: bool = False) -> float:
    """The longest wait botocore's standard mode makes after `attempts` attempts of a request."""
    wait = min(_BOTOCORE_THROTTLING_BASE * 2 ** (attempts - 1), _BOTOCORE_MAX_WAIT)
    return wait + (_BOTOCORE_RETRY_AFTER_MAX if retry_after_header else 0.0)


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def allows(self, seconds: float) -> bool:
        """Whether `seconds` of work started now end by the deadline."""
        return self.remaining() >= seconds


#: The deadline of the invocation being handled; None outside one (the CLI, tests): then only the
#: retries' counts bound the work. A context variable, so the threads of bulk_import.concurrency see it.
_current: ContextVar[Deadline | None] = ContextVar("bulk_import_deadline", default=None)


def current_deadline() -> Deadline | None:
    return _current.get()


def deadline_of(context: Any) -> Deadline | None:
    """The deadline of the invocation a Lambda context describes (None without one)."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    return Deadline.after(remaining_ms() / 1000 - MARGIN_SECONDS)


@contextmanager
def bounded_by(deadline: Deadline | None) -> Iterator[None]:
    """The work done inside has `deadline`."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


F = TypeVar("F", bound=Callable[..., Any])


def within_remaining_time(handler: F) -> F:
    """A Lambda handler whose requests end by its invocation's deadline (outermost decorator: the
    handler's own decorators, Powertools' parsing included, run within it)."""

    @functools.wraps(handler)
    def bounded(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        with bounded_by(deadline_of(context)):
            return handler(event, context, *args, **kwargs)

    return bounded  # type: ignore[return-value]
