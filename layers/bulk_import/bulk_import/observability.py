"""Logger, Metrics and Tracer, created once and shared by every handler (configured by POWERTOOLS_*).

`tracer` is created on first use: Powertools' Tracer imports and configures the X-Ray SDK (a fifth
of a bare boto3 function's cold start on Lambda, docs/benchmarks.md), so only the functions that
use it pay for it. The API functions do not: Lambda's active tracing records their invocations,
and botocore passes the trace id on to the services they call, so a trace still runs from API
Gateway through Step Functions to the worker functions, whose Tracer adds a subsegment per AWS call.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# Rejected requests (auth, validation) publish no metric on purpose; Powertools warns about that.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def __getattr__(name: str):
    """`from bulk_import.observability import tracer` creates the Tracer (PEP 562)."""
    if name != "tracer":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from aws_lambda_powertools import Tracer

    tracer = globals()["tracer"] = Tracer()
    return tracer
