"""The template as the tests run it: its functions, their environment, its table and bucket names.

Importing this sets the functions' environment, as Lambda does before any handler module (and its
Powertools singletons) loads; tests/conftest.py imports it first.
"""

from __future__ import annotations

import os
from pathlib import Path

# First: it keeps moto's unused backends unloaded (moto_footprint), before anything imports moto's
# Step Functions interpreter.
from bulk_import_local.local_stack import LOCAL_PARAMETERS

# isort: split
from bulk_import_local.functions_host import FunctionsHost
from bulk_import_local.sam_template import SamTemplate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = SamTemplate(ROOT / "template.yaml", LOCAL_PARAMETERS)
FUNCTIONS = FunctionsHost(TEMPLATE.functions())
os.environ.update(FUNCTIONS.environment() | {"POWERTOOLS_TRACE_DISABLED": "true"})
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # Lambda always sets it
TABLE_NAME = os.environ["TABLE_NAME"]
BUCKET_NAME = os.environ["IMPORT_BUCKET"]
