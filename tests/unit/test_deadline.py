"""The invocation's deadline: read from the Lambda context, held for the handler's call (its threads
included), and the bounds of botocore's waits it is weighed against."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bulk_import.concurrency import map_all
from bulk_import.domain.deadline import (
    ATTEMPT_SECONDS,
    BOTOCORE_ATTEMPTS,
    MARGIN_SECONDS,
    Deadline,
    botocore_wait_bound,
    current_deadline,
    deadline_of,
    within_remaining_time,
)
from bulk_import_local.functions_host import LambdaContext


def test_the_deadline_is_the_remaining_time_less_the_margin():
    deadline = deadline_of(LambdaContext("f", "arn", timeout_ms=10_000))
    assert deadline is not None
    assert 10 - MARGIN_SECONDS - 0.5 < deadline.remaining() <= 10 - MARGIN_SECONDS
    assert deadline.allows(ATTEMPT_SECONDS) and not deadline.allows(10)
    assert deadline_of(None) is None  # no Lambda context: no deadline


def test_a_handler_runs_within_its_deadline_and_its_threads_see_it():
    seen = []

    @within_remaining_time
    def handler(event, context):
        seen.append(current_deadline())
        with ThreadPoolExecutor(max_workers=2) as pool:
            map_all(pool, lambda _: seen.append(current_deadline()), [1, 2])
        return event

    assert handler("event", LambdaContext("f", "arn", timeout_ms=5_000)) == "event"
    assert seen[0] is not None and seen == [seen[0]] * 3
    assert current_deadline() is None  # after the invocation, none


def test_an_expired_deadline_allows_nothing():
    assert not Deadline.after(-1).allows(0)


def test_botocores_waits_grow_to_its_cap_and_by_retry_after():
    assert [botocore_wait_bound(attempt) for attempt in range(1, BOTOCORE_ATTEMPTS)] == [1, 2, 4]
    assert botocore_wait_bound(10) == 20 and botocore_wait_bound(1, retry_after_header=True) == 6
