"""The botocore data the layer ships (layers/bulk_import/bulk_import/dal/botocore_data), generated from the
installed botocore, which is the layer's pinned one (requirements-dev.txt holds it to the same
version): `bulk-import botocore-data` writes it, tests/template/test_botocore_data.py fails when it
differs from what this generates.

- Each service's model keeps the operations OPERATIONS lists and the shapes they reach, without
  documentation. Creating a client parses its model: DynamoDB's is 0.6 MB of JSON, S3's 1.3 MB.
- endpoints.json keeps every partition (regions, defaults) and only these services: botocore parses
  it whole (1.25 MB) when a session creates its first client.

bulk_import.aws_clients creates the package's clients on a session that reads this data before
botocore's own; anything not here (endpoint rule sets, paginators) botocore reads from its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Every operation the layer's clients call, by service (botocore's names). An operation missing here
#: is a missing method on the client: tests/template/test_botocore_data.py looks for calls of the
#: services' operations in the layer and the functions.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "dynamodb": (
        "BatchExecuteStatement",
        "BatchGetItem",
        "BatchWriteItem",
        "DeleteItem",
        # Not called: kept so that the model says what botocore's does of endpoint discovery (off
        # unless an operation requires it, which none of DynamoDB's does).
        "DescribeEndpoints",
        "GetItem",
        "PutItem",
        "Query",
        "TransactWriteItems",
        "UpdateItem",
    ),
    "s3": (
        # The transfer manager's (files.upload above 8 MiB): it aborts a multipart upload that fails.
        "AbortMultipartUpload",
        "CompleteMultipartUpload",
        "CreateMultipartUpload",
        "DeleteObjects",
        "GetObject",
        "HeadObject",
        "ListMultipartUploads",
        "ListObjectsV2",
        "PutObject",
        "UploadPart",
    ),
    "stepfunctions": ("StartExecution", "StopExecution"),
    "events": ("PutEvents",),
}


def data_directory(root: Path) -> Path:
    return root / "layers/bulk_import/bulk_import/dal/botocore_data"


def generate() -> dict[str, str]:
    """The data's files, by path relative to the data directory."""
    from botocore.loaders import Loader

    loader = Loader()
    files: dict[str, str] = {}
    endpoint_prefixes = set()
    for service, operations in OPERATIONS.items():
        version = loader.determine_latest_version(service, "service-2")
        model = loader.load_service_model(service, "service-2", version)
        files[f"{service}/{version}/service-2.json"] = _text(_trimmed(model, operations))
        endpoint_prefixes.add(model["metadata"]["endpointPrefix"])
    endpoints = loader.load_data("endpoints")
    for partition in endpoints["partitions"]:
        partition["services"] = {
            name: value for name, value in partition["services"].items() if name in endpoint_prefixes
        }
    files["endpoints.json"] = _text(endpoints)
    return files


def write(directory: Path) -> None:
    """Replaces the data in `directory` with what generate() gives."""
    for stale in sorted(directory.rglob("*.json")):
        stale.unlink()
    for relative, text in generate().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def committed(directory: Path) -> dict[str, str]:
    return {str(path.relative_to(directory)): path.read_text() for path in sorted(directory.rglob("*.json"))}


def _trimmed(model: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    shapes = model["shapes"]
    reached: set[str] = set()

    def reach(name: str) -> None:
        if name in reached:
            return
        reached.add(name)
        shape = shapes[name]
        references = [shape.get(key) for key in ("member", "key", "value")] + list(shape.get("members", {}).values())
        for reference in references:
            if reference:
                reach(reference["shape"])

    kept = {name: _undocumented(model["operations"][name]) for name in operations}
    for operation in kept.values():
        for reference in [operation.get("input"), operation.get("output"), *operation.get("errors", [])]:
            if reference:
                reach(reference["shape"])
    return {
        "version": model["version"],
        "metadata": model["metadata"],
        "operations": kept,
        "shapes": {name: _undocumented(shape) for name, shape in shapes.items() if name in reached},
    }


def _undocumented(definition: dict[str, Any]) -> dict[str, Any]:
    """An operation or a shape without its documentation, nor its members' (botocore reads it only
    to write docstrings). Member names are left alone: one could be "documentation"."""
    kept = {key: value for key, value in definition.items() if key != "documentation"}
    if "members" in kept:
        kept["members"] = {
            name: {key: value for key, value in member.items() if key != "documentation"}
            for name, member in kept["members"].items()
        }
    return kept


def _text(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n"
