"""How an upload is split: one PUT up to 5 GiB, then 32 parts until parts reach S3's largest, and at
most 1,000 parts within S3's part sizes."""

import math

import pytest

from bulk_import.logic.uploads import (
    MAX_PART_SIZE,
    MAX_PARTS,
    MAX_UPLOAD_SIZE,
    SINGLE_UPLOAD_LIMIT,
    USUAL_PARTS,
    part_size_for,
)

MiB, GiB = 1024**2, 1024**3


@pytest.mark.parametrize(
    ("size", "part_size"),
    [
        (SINGLE_UPLOAD_LIMIT + 1, 161 * MiB),  # 160 MiB and a byte, rounded up to whole MiB
        (6 * GiB, 192 * MiB),  # 32 parts
        (12 * GiB + 1, 385 * MiB),
        (32 * MAX_PART_SIZE, MAX_PART_SIZE),  # 32 parts of S3's largest
        (40 * MAX_PART_SIZE, MAX_PART_SIZE),  # then more parts
        (MAX_UPLOAD_SIZE, MAX_PART_SIZE),
    ],
)
def test_parts_are_whole_mib_within_s3_limits_and_at_most_a_thousand(size, part_size):
    assert part_size_for(size) == part_size
    assert SINGLE_UPLOAD_LIMIT // USUAL_PARTS <= part_size <= MAX_PART_SIZE
    assert math.ceil(size / part_size) <= (USUAL_PARTS if part_size < MAX_PART_SIZE else MAX_PARTS)
