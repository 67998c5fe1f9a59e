"""The package's AWS clients, created from botocore data trimmed to what the package calls.

Creating a client parses its service's model, and a session's first client parses botocore's
endpoints.json (1.25 MB): for DynamoDB, S3 and Step Functions together 0.4× a bare boto3 function's
cold start, half of it endpoints.json (docs/benchmarks.md). `botocore_data/`, beside this module,
holds the models of the services used with only the operations called, their endpoint rule sets as
compact JSON, and endpoints.json with only those services (generated from the pinned botocore by
`bulk-import botocore-data`; bulk_import_local/botocore_data.py says how). The session here reads
it before botocore's own data (the mechanism of AWS_DATA_PATH, set on this session alone: other
libraries' clients, the X-Ray SDK's, keep botocore's whole data), and reads from botocore's what is
not there (paginators, waiters).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

DATA_PATH = Path(__file__).parent / "botocore_data"


@lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    core = botocore.session.Session()
    core.set_config_variable("data_path", str(DATA_PATH))
    return boto3.session.Session(botocore_session=core)


def client(service: str, config: Config | None = None) -> Any:
    """A boto3 client of `service` (its region, credentials and endpoint from the environment, as
    boto3.client's)."""
    return _session().client(service, config=config)  # type: ignore[call-overload]
