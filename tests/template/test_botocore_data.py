"""The layer's trimmed botocore data (bulk_import.aws_clients): what botocore gives, covering every
operation the code calls, and what the package's clients are made of."""

import io
import os
import re
from types import SimpleNamespace

import boto3
import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import UnknownClientMethodError
from botocore.loaders import Loader

from bulk_import.dal import aws_clients
from bulk_import.dal.s3 import default_files
from bulk_import_local import botocore_data
from tests.support import session_operations
from tests.support.stack import ROOT

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


# -- what the layer's clients reached for while the tests ran ------------------------------------------
#
# The scan above finds the layer's own calls; a library calling the layer's clients (s3transfer, on
# the S3 client) is found only by running it. tests/conftest.py records, for the whole session, what
# the clients reading the layer's data called, presigned or asked for (botocore_data.CalledOperations),
# and checks it once every test has run (tests/support/session_operations.py).


def test_the_recording_sees_the_layers_clients_and_only_them(store, layer_operations):
    # The layer's clients' write and read here are recorded; the `store` fixture's CreateTable (the
    # tests' own client, of botocore's whole data) is not.
    store.client.put_item(TableName=os.environ["TABLE_NAME"], Item={"PK": {"S": "CHECK"}, "SK": {"S": "CHECK"}})
    files = default_files()
    files.put("check/operations.json", b"{}")
    assert files.read_json("check/operations.json") == {}
    assert layer_operations.seen >= {("dynamodb", "PutItem"), ("s3", "PutObject"), ("s3", "GetObject")}
    assert ("dynamodb", "CreateTable") not in layer_operations.seen


def test_the_session_check_fails_on_an_operation_the_data_lacks_or_a_recording_that_missed_the_suite():
    listed = {("dynamodb", "Query"), ("s3", "AbortMultipartUpload")}
    assert session_operations.problems(session_operations.KNOWN | listed, whole=True) == []
    (lacking,) = session_operations.problems(session_operations.KNOWN | {("s3", "CopyObject")}, whole=True)
    assert "[('s3', 'CopyObject')]" in lacking
    (missed,) = session_operations.problems(listed, whole=True)
    assert "missed the suite's calls" in missed
    assert session_operations.problems(listed, whole=False) == []  # a narrower run need not make them
    assert session_operations.problems({("sts", "GetCallerIdentity")}, whole=False) == []  # not trimmed


def test_only_a_run_of_the_whole_suite_expects_its_known_calls():
    def config(*arguments: str, **options) -> SimpleNamespace:
        defaults = {"keyword": "", "markexpr": "", "deselect": None, "lf": False}
        return SimpleNamespace(
            invocation_params=SimpleNamespace(dir=ROOT),
            args=list(arguments),
            option=SimpleNamespace(**defaults | options),
        )

    whole_suite = session_operations.whole_suite
    assert whole_suite(config("tests")) and whole_suite(config("tests/"))
    assert not whole_suite(config("tests/unit", "tests/template"))  # CI's first run
    assert not whole_suite(config("tests/template/test_botocore_data.py"))
    assert not whole_suite(config("tests", keyword="botocore"))
    assert not whole_suite(config("tests", lf=True))


def test_an_operation_a_trimmed_model_hides_from_a_library_is_recorded(moto_aws, tmp_path):
    """How a CSV export over 8 MiB failed: s3transfer asks the client for abort_multipart_upload as soon
    as it has started a multipart upload, and a model without the operation has no such method."""
    lacking = {
        **botocore_data.OPERATIONS,
        "s3": tuple(name for name in botocore_data.OPERATIONS["s3"] if name != "AbortMultipartUpload"),
    }
    botocore_data.write(tmp_path, botocore_data.generate(lacking))
    recording = botocore_data.CalledOperations(tmp_path)
    undo = recording.install()
    try:
        core = botocore.session.Session()
        core.set_config_variable("data_path", str(tmp_path))
        s3 = boto3.session.Session(botocore_session=core).client("s3")
        boto3.client("s3").create_bucket(Bucket="exports")
        with pytest.raises(AttributeError, match="abort_multipart_upload"):
            s3.upload_fileobj(io.BytesIO(b"x" * (8 * 1024 * 1024 + 1)), "exports", "errors.csv")
        with pytest.raises(UnknownClientMethodError):
            s3.generate_presigned_url("copy_object", Params={"Bucket": "exports", "Key": "copy"})
    finally:
        undo()
    assert ("s3", "CreateMultipartUpload") in recording.seen
    assert ("s3", "CreateBucket") not in recording.seen  # the tests' own client
    assert botocore_data.not_listed(recording.seen, lacking) == [("s3", "AbortMultipartUpload"), ("s3", "CopyObject")]
    assert botocore_data.not_listed(recording.seen) == [("s3", "CopyObject")]
