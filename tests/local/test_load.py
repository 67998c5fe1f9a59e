"""bench/load.py's scenario, small: imports in three cells at once while eight clients read their status
in every dialect; no 5xx, no wrong answer, and every import's final counts exact."""

from bench.load import run


def test_imports_in_several_cells_read_by_many_clients_answer_right(local_stack):
    # The deadline tells an import that never ends from a slow one; the speed is bench/load.py's figure.
    result = run(local_stack, cells=3, users=300, clients=8, deadline_seconds=180)

    assert result.reads.latencies
    assert dict(result.reads.server_errors) == {}
    assert dict(result.reads.wrong) == {}
    assert {final.cell: final.problems for final in result.finals if final.problems} == {}
