"""What a multipart upload's presigned part URLs cost a cold function (a benchmark: it asserts nothing).

`POST /v1/cells/{cell}/uploads` with a size over 5 GiB answers one presigned UploadPart URL per part
(bulk_import/logic/uploads.py: 32 parts up to 160 GiB, at most 1,000 above), each botocore's
`generate_presigned_url`: a cost in CPU of the parts' count, paid before the answer.

For each count of parts, in a fresh interpreter as on Lambda (bench/status_read.py: the layer, the
runtime's boto3, bytecode, Lambda's variables): the CPU time of presigning the parts with the
functions' S3 client (`default_files()`, created before the clock starts: the route creates it
anyway), against the floor of bench/status_read.py, a bare boto3 function's cold start, run back to
back with it. The goal is what the upload route leaves of its cold budget: its goal less its own
cold start with one presigned PUT, measured first in the same run (its row of bench/status_read.py).

Run: .venv/bin/python bench/presign.py [--cold 9] [--write-requests 20] (`make bench` prints these rows too).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import status_read  # noqa: E402
from table import Figure, Row, print_table  # noqa: E402

#: The route whose budget the part URLs share: a multipart upload is this route with a size over 5 GiB.
UPLOAD_ROUTE = "/v1 POST uploads"
#: (row, parts): 0 is one presigned PUT (a file up to 5 GiB); 32 parts (5 to 160 GiB), 64 (320 GiB) and the most, 1,000.
COUNTS = [("1 PUT URL (up to 5 GiB)", 0), ("32 part URLs (5 to 160 GiB)", 32), ("64 part URLs (320 GiB)", 64)]
COUNTS += [("1,000 part URLs (4.9 TiB)", 1000)]

#: argv: the count of parts (0: one PUT's URL). Prints the CPU time of the URLs alone.
PRESIGN = """
import sys, time
count = int(sys.argv[1])
from bulk_import.dal.s3 import default_files
files = default_files()
started = time.process_time()
if count:
    urls = files.presigned_parts("uploads/bench/0a1b2c3d/big.jsonl", "bench-multipart-upload-id", count, 3600)
else:
    urls = [files.presigned_put("uploads/bench/0a1b2c3d/small.jsonl", 3600)]
elapsed = time.process_time() - started
assert len(urls) == max(count, 1) and all("X-Amz-Signature=" in url for url in urls)
print(elapsed)
"""


def rows(cold: int = 9, write_requests: int = 20) -> list[Row]:
    """The upload route's row, then one row per count of URLs: the CPU time of presigning them against
    the floor's cold start, next to what the route leaves of its cold budget."""
    with status_read.prepared(requests=30) as (bench, _):
        upload = next(route for route in status_read.ROUTES if route.name == UPLOAD_ROUTE)
        upload_row = bench.row(upload, write_requests, cold)
        measured = upload_row.figures["cold (× floor)"]
        assert measured is not None
        budget = round(upload.cold_goal - measured.value, 2)

        def run(code: str, *argv: str) -> float:
            # -S: no site-packages, only the Lambda site on PYTHONPATH (bench.cold_env)
            result = subprocess.run(
                [sys.executable, "-S", "-c", code, *argv],
                env=bench.cold_env,
                capture_output=True,
                text=True,
                cwd=status_read.ROOT,
            )
            if result.returncode:
                raise RuntimeError(f"a cold run failed:\n{result.stderr[-3000:]}")
            return float(result.stdout.split()[-1])

        run(PRESIGN, "1")  # the first run compiles what it imports into the bytecode cache
        table = [upload_row]
        for name, count in COUNTS:
            pairs = [(run(PRESIGN, str(count)), run(status_read.FLOOR) + bench.floor_wait) for _ in range(cold)]
            presign = statistics.median(measured for measured, _ in pairs)
            table.append(
                Row(
                    f"presign {name}",
                    f"botocore's generate_presigned_url per URL, against the floor; the goal: {UPLOAD_ROUTE}'s "
                    f"cold goal less its cold start",
                    {
                        "URLs (× floor)": Figure(statistics.median(p / floor for p, floor in pairs), budget),
                        "URLs' CPU": Figure(presign * 1000, unit=" ms", places=1),
                        "per URL": Figure(presign * 1000 / max(count, 1), unit=" ms", places=3),
                        "floor": Figure(statistics.median(floor for _, floor in pairs) * 1000, unit=" ms", places=0),
                    },
                )
            )
        return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=9, help="cold pairs per row")
    parser.add_argument("--write-requests", type=int, default=20, help="warm pairs of the upload route")
    args = parser.parse_args()
    print_table(rows(args.cold, args.write_requests))


if __name__ == "__main__":
    main()
