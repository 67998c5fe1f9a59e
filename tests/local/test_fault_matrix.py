"""A sample of the fault matrix (tests/faults/matrix.py), as CI runs it: for each flow, one fault
point in each mode (crash before a write, crash after it landed, contention), through the real
state machine on the local stack. `make faults` runs every point."""

import pytest

from tests.faults.matrix import FLOWS, NOT_REACHED, RETRY_SCALE, Matrix, sample


@pytest.fixture
def matrix(local_stack, monkeypatch):
    monkeypatch.setenv("BULK_IMPORT_RETRY_SCALE", RETRY_SCALE)  # read at every retry
    return Matrix(local_stack, local_stack.boundary)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_the_promise_survives_a_sample_of_the_flows_fault_points(matrix: Matrix, flow: str):
    points = sample(matrix.points(flow))
    assert {point.mode for point in points} == {"crash-before", "crash-after", "contention"}
    broken = {
        str(point): problems
        for point in points
        if (problems := matrix.run(point.flow, point.fault())) and problems != [NOT_REACHED]
    }
    assert broken == {}
