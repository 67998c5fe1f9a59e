"""The botocore data the layer ships (layers/bulk_import/bulk_import/dal/botocore_data), generated from the
installed botocore, which is the layer's pinned one (requirements-dev.txt holds it to the same
version): `bulk-import botocore-data` writes it, tests/template/test_botocore_data.py fails when it
differs from what this generates.

- Each service's model keeps the operations OPERATIONS lists and the shapes they reach, without
  documentation. Creating a client parses its model: DynamoDB's is 0.6 MB of JSON, S3's 1.3 MB.
- endpoints.json keeps every partition (regions, defaults) and only these services: botocore parses
  it whole (1.25 MB) when a session creates its first client.
- Each service's endpoint rule set is botocore's, whole, as compact JSON: botocore ships it gzipped
  and indented: S3's is 0.9 MB of JSON that way, 0.12 MB compact, read in a third less time.

bulk_import.aws_clients creates the package's clients on a session that reads this data before
botocore's own; anything not here (paginators, waiters) botocore reads from its own.

A trimmed model hides every operation it lacks, from the layer's code and from the libraries that
call the layer's clients (s3transfer looks up abort_multipart_upload once it has started a multipart
upload). `CalledOperations` records what those clients reach for while the tests run, and
tests/template/test_botocore_data.py checks after every other test that OPERATIONS has it all.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import botocore.session
from botocore import xform_name
from botocore.client import BaseClient

#: Every operation the layer's clients call, by service (botocore's names). An operation missing here
#: is a missing method on the client: tests/template/test_botocore_data.py looks for calls of the
#: services' operations in the layer and the functions, and checks what the clients reached for while
#: the tests ran (libraries' calls included).
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
        # The transfer manager's (dal/s3.py's upload above 8 MiB): it aborts a multipart upload that fails,
        # and looks the method up as soon as the upload starts.
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
    "stepfunctions": ("SendTaskSuccess", "StartExecution", "StopExecution"),
    "events": ("PutEvents",),
}


def data_directory(root: Path) -> Path:
    return root / "layers/bulk_import/bulk_import/dal/botocore_data"


#: What the data holds of each service's model: the operations listed ("trimmed", what the layer
#: ships), all of them ("whole"; both without documentation), or nothing, so that botocore reads its
#: own ("none"). bench/botocore_data.py compares their cold starts.
Models = Literal["trimmed", "whole", "none"]


def generate(operations: Mapping[str, Sequence[str]] = OPERATIONS, models: Models = "trimmed") -> dict[str, str]:
    """The data's files, by path relative to the data directory."""
    from botocore.loaders import Loader

    loader = Loader()
    files: dict[str, str] = {}
    endpoint_prefixes = set()
    for service, listed in operations.items():
        version = loader.determine_latest_version(service, "service-2")
        model = loader.load_service_model(service, "service-2", version)
        if models != "none":
            kept = tuple(listed) if models == "trimmed" else tuple(model["operations"])
            files[f"{service}/{version}/service-2.json"] = _text(_trimmed(model, kept))
            rule_set = loader.load_service_model(service, "endpoint-rule-set-1", version)
            files[f"{service}/{version}/endpoint-rule-set-1.json"] = _text(rule_set, sort_keys=False)
        endpoint_prefixes.add(model["metadata"]["endpointPrefix"])
    endpoints = loader.load_data("endpoints")
    for partition in endpoints["partitions"]:
        partition["services"] = {
            name: value for name, value in partition["services"].items() if name in endpoint_prefixes
        }
    files["endpoints.json"] = _text(endpoints)
    return files


def write(directory: Path, files: dict[str, str] | None = None) -> None:
    """Replaces the data in `directory` with `files` (by default what generate() gives)."""
    for stale in sorted(directory.rglob("*.json")):
        stale.unlink()
    for relative, text in (generate() if files is None else files).items():
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


def _text(data: Any, sort_keys: bool = True) -> str:
    # A rule set keeps botocore's order: its rules are tried in that order.
    return json.dumps(data, separators=(",", ":"), sort_keys=sort_keys) + "\n"


def not_listed(
    seen: Iterable[tuple[str, str]], operations: Mapping[str, Sequence[str]] = OPERATIONS
) -> list[tuple[str, str]]:
    """The (service, operation) pairs of `seen` whose service the data trims and whose operation it lacks."""
    return sorted(
        (service, name) for service, name in set(seen) if service in operations and name not in operations[service]
    )


class CalledOperations:
    """Every (service, operation) that the clients reading the botocore data in `data_path` reached for
    while installed: their calls (the layer's, and s3transfer's and any other library's through them),
    their presigned URLs, and an operation's method or presigned URL asked of a client whose model
    lacks the operation (the AttributeError or UnknownClientMethodError a trimmed model gives). Other
    clients, such as the tests' own of botocore's whole data, are left out.

    install() hooks botocore's Session.create_client: the clients created since, in every copy of the
    layer, are watched through their own events."""

    def __init__(self, data_path: Path) -> None:
        self.data_path = str(data_path)
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # the local stack's functions call from threads of their own

    @property
    def seen(self) -> frozenset[tuple[str, str]]:
        with self._lock:
            return frozenset(self._seen)

    def add(self, operations: Iterable[tuple[str, str]]) -> None:
        """Adds what another process's recording saw (a test worker's)."""
        with self._lock:
            self._seen.update(operations)

    def install(self) -> Callable[[], None]:
        """Watches the clients created from now on; returns the undo."""
        original = botocore.session.Session.create_client

        @functools.wraps(original)
        def create_client(session: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            if self.data_path in str(session.get_config_variable("data_path") or "").split(os.pathsep):
                self.watch(client)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

        def undo() -> None:
            if botocore.session.Session.create_client is not create_client:
                raise RuntimeError("a recording installed after this one is still installed: undo it first")
            botocore.session.Session.create_client = original  # type: ignore[method-assign]

        return undo

    def watch(self, client: BaseClient) -> None:
        service = client.meta.service_model.service_name
        # Emitted for every call (before its parameters are serialized) and every presigned URL.
        client.meta.events.register("before-parameter-build", self._called)

        def looked_up(event_name: str, **_: Any) -> None:  # (an answer would become the attribute)
            self._asked_for(service, event_name.rpartition(".")[2])

        # Emitted when an attribute is not found on the client: an operation its model lacks.
        client.meta.events.register("getattr", looked_up)
        presign = client.generate_presigned_url  # checks the method against the model before any event

        @functools.wraps(presign)
        def generate_presigned_url(ClientMethod: str, *args: Any, **kwargs: Any) -> str:
            self._asked_for(service, ClientMethod)
            return presign(ClientMethod, *args, **kwargs)

        client.generate_presigned_url = generate_presigned_url  # type: ignore[method-assign]

    def _called(self, model: Any, **_: Any) -> None:
        with self._lock:
            self._seen.add((model.service_model.service_name, model.name))

    def _asked_for(self, service: str, method: str) -> None:
        operation = _operations_by_method(service).get(method)
        if operation is not None:
            with self._lock:
                self._seen.add((service, operation))


@functools.cache
def _operations_by_method(service: str) -> dict[str, str]:
    """The client method of each operation of botocore's whole model of `service`."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}
