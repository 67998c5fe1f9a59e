"""The local stack's compact partitions (local/bulk_import_local/moto_footprint.py): a dict's
behaviour, under moto's threads too."""

import threading

import pytest

from bulk_import_local.moto_footprint import Partition


def test_a_partition_behaves_as_a_dict_before_and_after_its_second_item():
    partition = Partition()
    assert len(partition) == 0 and list(partition) == [] and partition.values() == [] and partition.get("a") is None
    partition["a"] = 1
    partition["a"] = 2
    assert partition.is_compact() and dict(partition.items()) == {"a": 2}
    partition["b"] = 3
    assert not partition.is_compact() and dict(partition.items()) == {"a": 2, "b": 3} and len(partition) == 2
    assert partition.pop("a") == 2 and partition.pop("a", None) is None and list(partition) == ["b"]
    del partition["b"]
    with pytest.raises(KeyError):
        partition.pop("b")
    assert len(partition) == 0


def test_a_read_that_meets_its_partition_turning_into_a_dict_still_finds_its_item():
    comparing, converted = threading.Event(), threading.Event()

    class Key(str):
        """Compared in Python, as moto's DynamoType is; the first comparison waits for the write
        (at most half a second: a write that waits for the read cannot make it)."""

        def __ne__(self, other: object) -> bool:
            if not comparing.is_set():
                comparing.set()
                converted.wait(0.5)
            return str.__ne__(self, other)

        __hash__ = str.__hash__

    partition = Partition()
    partition[Key("first")] = 1
    found: list[object] = []
    reader = threading.Thread(target=lambda: found.append(partition.get(Key("first"))))
    reader.start()
    assert comparing.wait(5)
    writer = threading.Thread(target=lambda: (partition.__setitem__(Key("second"), 2), converted.set()))
    writer.start()
    reader.join()
    writer.join()
    assert found == [1] and dict(partition.items()) == {"first": 1, "second": 2}
