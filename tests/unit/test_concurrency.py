"""map_all runs each call in a copy of the caller's context (context variables follow the work)."""

from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar

from bulk_import.concurrency import map_all

who: ContextVar[str] = ContextVar("who", default="nobody")


def test_each_call_sees_the_callers_context_variables_and_keeps_what_it_sets_to_itself():
    def claim(item: int) -> str:
        seen = who.get()
        who.set(f"call {item}")  # must not leak into the next call on the same thread, nor back to the caller
        return seen

    who.set("ImportBatchFunction")
    with ThreadPoolExecutor(max_workers=1) as pool:  # one thread: every call runs where the previous one ran
        assert map_all(pool, claim, range(3)) == ["ImportBatchFunction"] * 3
    assert who.get() == "ImportBatchFunction"


def test_results_come_in_item_order_and_the_first_failure_is_raised():
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert map_all(pool, lambda item: item * 2, range(10)) == list(range(0, 20, 2))

        def fail_on_three(item: int) -> int:
            if item == 3:
                raise ValueError(item)
            return item

        try:
            map_all(pool, fail_on_three, range(5))
        except ValueError as error:
            assert error.args == (3,)
        else:
            raise AssertionError("the failure was not raised")
