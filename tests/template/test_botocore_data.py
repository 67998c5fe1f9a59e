"""The layer's trimmed botocore data (bulk_import.aws_clients): what botocore gives, covering every
operation the code calls, and what the package's clients are made of."""

import io
import os
import re
from pathlib import Path
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
# the clients reading the layer's data called, presigned or asked for (botocore_data.CalledOperations).

#: Made by the layer's clients in any run of the whole suite.
KNOWN = {("dynamodb", "PutItem"), ("s3", "GetObject")}


def whole_suite(config) -> bool:
    """Whether the session runs every test, as `make test` and CI do: the tests folder, nothing narrower."""
    paths = {Path(config.invocation_params.dir, argument).resolve() for argument in config.args}
    # (--lf is the cache plugin's, absent under -p no:cacheprovider)
    narrowed = any(getattr(config.option, name, None) for name in ("keyword", "markexpr", "deselect", "lf"))
    return paths == {ROOT / "tests"} and not narrowed


@pytest.mark.last
def test_the_data_has_every_operation_the_layers_clients_reached_for_in_the_session(store, layer_operations, request):
    """After every other test of the session (the `last` marker, tests/conftest.py)."""
    by_the_suite = layer_operations.seen
    if whole_suite(request.config):
        assert by_the_suite >= KNOWN, "the recording missed the suite's calls: the check below proves nothing"
    # The recording sees the layer's clients, and only them: their write and read here are recorded,
    # the `store` fixture's CreateTable (the tests' own client, of botocore's whole data) is not.
    store.client.put_item(TableName=os.environ["TABLE_NAME"], Item={"PK": {"S": "CHECK"}, "SK": {"S": "CHECK"}})
    files = default_files()
    files.put("check/operations.json", b"{}")
    assert files.read_json("check/operations.json") == {}
    assert layer_operations.seen >= KNOWN | {("s3", "PutObject")}
    assert ("dynamodb", "CreateTable") not in layer_operations.seen
    assert botocore_data.not_listed(layer_operations.seen) == []


def test_only_a_run_of_the_whole_suite_expects_its_known_calls():
    def config(*arguments: str, **options) -> SimpleNamespace:
        defaults = {"keyword": "", "markexpr": "", "deselect": None, "lf": False}
        return SimpleNamespace(
            invocation_params=SimpleNamespace(dir=ROOT),
            args=list(arguments),
            option=SimpleNamespace(**defaults | options),
        )

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
