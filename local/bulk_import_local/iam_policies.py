"""The IAM policies template.yaml gives each function, applied as AWS applies them to the requests
this app makes. moto checks no IAM at all; the SDK boundary (sdk_boundary.py) asks this module
whether a function may make a call, so that a test fails where AWS would refuse it, and
tests/integration/test_iam.py checks that every grant is needed.

What an AWS call needs (`requests_of`): one IAM request per item it touches, each an action on a
resource, with the condition keys the template's policies use:
- DynamoDB: the action of the operation, except in a transaction, where each item needs the
  action of its own part (PutItem, UpdateItem, DeleteItem, ConditionCheckItem: there is no
  TransactWriteItems action); `dynamodb:LeadingKeys` is the partition key of each item (of a
  Query on the table: the one it reads).
- S3: GetObject (HeadObject too), PutObject (multipart parts too), DeleteObject on the object's
  key; ListBucket (ListObjectsV2) and ListBucketMultipartUploads on the bucket, with `s3:prefix`.
  A GetObject or HeadObject of a key that does not exist answers 404 only to a caller that may
  list the bucket; to others, 403 (`answers_missing_key_with_403`).

What a policy grants (`FunctionPolicy`): the Allow statements of its `Policies` (the template has
no Deny in them), resources read from the template's intrinsics (the table, its indexes, the
bucket and key patterns under it; other resources are not told apart), conditions
`ForAllValues:StringLike` on `dynamodb:LeadingKeys` and `StringLike` on `s3:prefix`, and the SAM
policy templates the template uses.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bulk_import_local.partiql import parsed_insert

#: The actions of the SAM policy templates the template uses, on resources not told apart.
POLICY_TEMPLATES = {
    "EventBridgePutEventsPolicy": ("events:PutEvents",),
    "SQSSendMessagePolicy": ("sqs:SendMessage", "sqs:SendMessageBatch"),
    "LambdaInvokePolicy": ("lambda:InvokeFunction",),
}
#: API operations whose IAM action has another name.
_S3_ACTION = {
    "HeadObject": "s3:GetObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListObjectsV2": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteObjects": "s3:DeleteObject",
}
_TRANSACT_ACTION = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_SERVICE_PREFIX = {"stepfunctions": "states"}
PARTITION_KEY = "PK"
ANY = "*"


@dataclass(frozen=True)
class Request:
    """One IAM authorization an AWS call needs."""

    action: str  # "dynamodb:PutItem"
    resource: str  # "table", "index/<name>", "bucket", "object/<key>", or ANY (not told apart)
    leading_key: str | None = None  # dynamodb:LeadingKeys
    s3_prefix: str | None = None  # s3:prefix of a listing


@dataclass(frozen=True)
class Grant:
    """One action on one resource (pattern) of an Allow statement, with its conditions."""

    action: str
    resource: str  # as Request.resource; an object's key may hold * and ?
    leading_keys: tuple[str, ...] | None = None  # StringLike patterns; None: no condition
    s3_prefixes: tuple[str, ...] | None = None

    def allows(self, request: Request) -> bool:
        if request.action != self.action or not _resource_matches(self.resource, request.resource):
            return False
        if self.leading_keys is not None and not (
            request.leading_key is not None and _like_any(request.leading_key, self.leading_keys)
        ):
            return False
        return self.s3_prefixes is None or (
            request.s3_prefix is not None and _like_any(request.s3_prefix, self.s3_prefixes)
        )


@dataclass(frozen=True)
class FunctionPolicy:
    function: str
    grants: tuple[Grant, ...]

    def allows(self, request: Request) -> bool:
        return any(grant.allows(request) for grant in self.grants)

    def answers_missing_key_with_403(self, bucket_wide_list: Request = Request("s3:ListBucket", "bucket")) -> bool:
        """S3 answers a GetObject or HeadObject of a missing key with 404 only to a caller that may
        list the bucket (s3:ListBucket on it, no s3:prefix condition: a GET carries no prefix)."""
        return not any(grant.allows(bucket_wide_list) and grant.s3_prefixes is None for grant in self.grants)


def function_policies(template: dict[str, Any]) -> dict[str, FunctionPolicy]:
    """Every function's policy in the template (its `Policies`)."""
    return {
        name: FunctionPolicy(name, tuple(_grants(resource["Properties"].get("Policies", []))))
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _grants(policies: list[Any]) -> Iterator[Grant]:
    for policy in policies:
        ((name, body),) = policy.items()
        if name in POLICY_TEMPLATES:
            yield from (Grant(action, ANY) for action in POLICY_TEMPLATES[name])
            continue
        if name != "Statement":
            raise ValueError(f"policy {name!r} is not modelled in iam_policies.py")
        for statement in body:
            if statement.get("Effect", "Allow") != "Allow":
                raise ValueError("Deny statements are not modelled in iam_policies.py")
            condition = statement.get("Condition", {})
            leading = condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            prefixes = condition.get("StringLike", {}).get("s3:prefix")
            for action in _listed(statement["Action"]):
                for resource in _listed(statement["Resource"]):
                    yield Grant(
                        action,
                        _resource(resource),
                        tuple(_listed(leading)) if leading is not None else None,
                        tuple(_listed(prefixes)) if prefixes is not None else None,
                    )


def _resource(value: Any) -> str:
    """A statement's resource, as Request.resource names it."""
    if value == {"Fn::GetAtt": ["ImportTable", "Arn"]}:
        return "table"
    if value == {"Fn::GetAtt": ["ImportBucket", "Arn"]}:
        return "bucket"
    text = value.get("Fn::Sub", "") if isinstance(value, dict) else ""
    if isinstance(text, str) and text.startswith("${ImportTable.Arn}/"):
        return text.removeprefix("${ImportTable.Arn}/")
    if isinstance(text, str) and text.startswith("${ImportBucket.Arn}/"):
        return "object/" + text.removeprefix("${ImportBucket.Arn}/")
    return ANY


def requests_of(service: str, operation: str, params: dict[str, Any]) -> list[Request]:
    """The IAM requests one call makes (botocore's service name, operation and parameters)."""
    if service == "dynamodb":
        return list(_dynamodb_requests(operation, params))
    if service == "s3":
        return list(_s3_requests(operation, params))
    return [Request(f"{_SERVICE_PREFIX.get(service, service)}:{operation}", ANY)]


def _dynamodb_requests(operation: str, params: dict[str, Any]) -> Iterator[Request]:
    action = f"dynamodb:{operation}"
    if operation in ("GetItem", "DeleteItem", "UpdateItem"):
        yield Request(action, "table", _partition(params["Key"]))
    elif operation == "PutItem":
        yield Request(action, "table", _partition(params["Item"]))
    elif operation == "BatchGetItem":
        for table in params["RequestItems"].values():
            yield from (Request(action, "table", _partition(key)) for key in table["Keys"])
    elif operation == "BatchWriteItem":
        for requests in params["RequestItems"].values():
            for request in requests:
                ((kind, body),) = request.items()
                yield Request(action, "table", _partition(body["Item"] if kind == "PutRequest" else body["Key"]))
    elif operation == "BatchExecuteStatement":  # IAM authorizes each statement by its kind
        for statement in params["Statements"]:
            insert = parsed_insert(statement)
            yield (
                Request("dynamodb:PartiQLInsert", "table", _partition(insert[1]))
                if insert
                else Request(action, "table")
            )
    elif operation in ("TransactWriteItems", "TransactGetItems"):
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            yield Request(_TRANSACT_ACTION[kind], "table", _partition(body.get("Item") or body["Key"]))
    elif operation in ("Query", "Scan"):
        index = params.get("IndexName")
        yield Request(
            action,
            f"index/{index}" if index else "table",
            None if index or operation == "Scan" else _queried_partition(params),
        )
    else:
        yield Request(action, "table")


def _s3_requests(operation: str, params: dict[str, Any]) -> Iterator[Request]:
    action = _S3_ACTION.get(operation, f"s3:{operation}")
    if operation in ("ListObjectsV2", "ListObjects", "ListMultipartUploads"):
        yield Request(action, "bucket", s3_prefix=params.get("Prefix", ""))
    elif operation == "DeleteObjects":
        yield from (Request(action, f"object/{item['Key']}") for item in params["Delete"]["Objects"])
    elif "Key" in params:
        yield Request(action, f"object/{params['Key']}")
    else:
        yield Request(action, "bucket")


def _partition(key: dict[str, Any]) -> str | None:
    value = key.get(PARTITION_KEY)
    if isinstance(value, dict):  # the client's form, {"S": "..."}
        value = next(iter(value.values()))
    return value if isinstance(value, str) else None


def _queried_partition(params: dict[str, Any]) -> str | None:
    """The partition a Query on the table reads: the value its key condition gives PK."""
    names = dict(params.get("ExpressionAttributeNames", {}))
    for left, right in re.findall(r"([#\w]+)\s*=\s*(:\w+)", params.get("KeyConditionExpression", "")):
        if names.get(left, left) == PARTITION_KEY:
            return _partition({PARTITION_KEY: params["ExpressionAttributeValues"][right]})
    return None


def _resource_matches(pattern: str, resource: str) -> bool:
    if pattern in (ANY, resource):
        return True
    return pattern.startswith("object/") and resource.startswith("object/") and fnmatch.fnmatchcase(resource, pattern)


def _like_any(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
