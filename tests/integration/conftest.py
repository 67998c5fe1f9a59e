"""Fixtures of the worker and operations tests: the bucket, and the Step Functions port recorded."""

import boto3
import pytest

from bulk_import.dal.s3 import ImportFiles
from tests.support.stack import BUCKET_NAME
from tests.support.worker import RecordedExecutions


@pytest.fixture
def files(store) -> ImportFiles:
    boto3.client("s3").create_bucket(Bucket=BUCKET_NAME)
    return ImportFiles(BUCKET_NAME, boto3.client("s3"))


@pytest.fixture
def executions() -> RecordedExecutions:
    return RecordedExecutions()
