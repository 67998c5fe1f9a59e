"""Logger, Tracer and Metrics, created once and shared by every handler (configured by POWERTOOLS_*)."""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Rejected requests (auth, validation) publish no metric on purpose; Powertools warns about that.
warnings.filterwarnings("ignore", message="No application metrics to publish")
