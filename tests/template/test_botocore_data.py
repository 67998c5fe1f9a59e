"""The layer's trimmed botocore data (bulk_import.aws_clients): what botocore gives, covering every
operation the code calls, and what the package's clients are made of."""

import re

import pytest
from botocore import xform_name
from botocore.loaders import Loader

from bulk_import.dal import aws_clients
from bulk_import_local import botocore_data
from tests.conftest import ROOT

#: Where the package's clients are called.
SOURCES = [*(ROOT / "layers/bulk_import/bulk_import").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
#: Listed without the code calling them: botocore's, or s3transfer's on the package's S3 client
#: (OPERATIONS says why; tests/integration/test_storage.py makes s3transfer call its own).
NOT_CALLED = {("dynamodb", "DescribeEndpoints"), ("s3", "AbortMultipartUpload")}


def test_the_committed_data_is_what_the_installed_botocore_gives():
    assert botocore_data.committed(aws_clients.DATA_PATH) == botocore_data.generate(), (
        "run `.venv/bin/bulk-import botocore-data` and commit the layer's botocore_data"
    )


def called_operations(service: str, sources=tuple(SOURCES)) -> set[str]:
    """The operations of `service` whose method, or name as a presigned URL's ClientMethod, appears in
    the code (a few names may belong to other objects: an over-approximation is safe)."""
    version = Loader().determine_latest_version(service, "service-2")
    operations = Loader().load_service_model(service, "service-2", version)["operations"]
    text = "\n".join(path.read_text() for path in sources)
    return {name for name in operations if re.search(rf"[.\"']{xform_name(name)}[(\"']", text)}


@pytest.mark.parametrize("service", sorted(botocore_data.OPERATIONS))
def test_the_data_lists_every_operation_the_code_calls_and_no_other(service):
    listed = set(botocore_data.OPERATIONS[service]) - {name for kind, name in NOT_CALLED if kind == service}
    assert called_operations(service) == listed


def test_the_scan_finds_a_call_and_a_presigned_url(tmp_path):
    # The check above must be able to fail: a new call is found.
    source = tmp_path / "new.py"
    source.write_text('client.copy_object(Bucket=b)\nclient.generate_presigned_url("head_bucket")\n')
    assert called_operations("s3", [source]) == {"CopyObject", "HeadBucket"}


@pytest.mark.parametrize("service", sorted(botocore_data.OPERATIONS))
def test_the_package_clients_have_only_the_listed_operations(service, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    model = aws_clients.client(service).meta.service_model
    assert sorted(model.operation_names) == sorted(botocore_data.OPERATIONS[service])
    assert not model.operation_model(botocore_data.OPERATIONS[service][0]).documentation
