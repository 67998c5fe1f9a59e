"""How an upload is split: one PUT up to 5 GiB, then at most 1,000 parts within S3's part sizes."""

import math

import pytest

from bulk_import.logic.uploads import MAX_PART_SIZE, MAX_PARTS, MAX_UPLOAD_SIZE, MIN_PART_SIZE, part_size_for

MiB, GiB = 1024**2, 1024**3


@pytest.mark.parametrize(
    ("size", "part_size"),
    [
        (6 * GiB, 64 * MiB),  # 96 parts
        (64 * GiB, 66 * MiB),  # 64 GiB / 1,000 = 65.5 MiB, rounded up to whole MiB
        (MAX_UPLOAD_SIZE, MAX_PART_SIZE),
    ],
)
def test_parts_are_whole_mib_within_s3_limits_and_at_most_a_thousand(size, part_size):
    assert part_size_for(size) == part_size
    assert MIN_PART_SIZE <= part_size <= MAX_PART_SIZE
    assert math.ceil(size / part_size) <= MAX_PARTS
