"""A sample of the fault matrix (tests/faults/matrix.py), as CI runs it: for each flow, one fault
point in each mode (crash before a write, crash after it landed, contention), through the real
state machine on the local stack. `make faults` runs every point."""

import pytest

from tests.faults.matrix import FLOWS, NOT_REACHED, RETRY_SCALE, Matrix, TimingPoint, run_point, sample, sample_timings


@pytest.fixture
def matrix(local_stack, monkeypatch):
    monkeypatch.setenv("BULK_IMPORT_RETRY_SCALE", RETRY_SCALE)  # read at every retry
    return Matrix(local_stack, local_stack.boundary)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_the_promise_survives_a_sample_of_the_flows_fault_points(matrix: Matrix, flow: str):
    points = sample(matrix.points(flow))
    assert {point.mode for point in points} == {"crash-before", "crash-after", "contention"}
    broken = {
        str(point): problems for point in points if (problems := run_point(matrix, point)) and problems != [NOT_REACHED]
    }
    assert broken == {}


@pytest.mark.parametrize("timing", sample_timings(), ids=str)
def test_a_client_acting_right_after_a_stop_never_sees_a_count_go_down_and_every_count_ends_exact(
    matrix: Matrix, timing: TimingPoint
):
    """Batch 1 landed its INSERTs and died before counting; the import is canceled while Step
    Functions waits to retry it; at once, the client retries the failed records, clears the cell or
    imports the same records again (tests/faults/matrix.py, flow_window)."""
    assert run_point(matrix, timing) == []
