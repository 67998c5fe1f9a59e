"""The SDK boundary's throttling: a fault on every operation of a service, and batch requests DynamoDB
processes in part (UnprocessedItems, UnprocessedKeys), on in-process moto."""

from __future__ import annotations

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from bulk_import_local.sdk_boundary import Fault, SdkBoundary

TABLE = "throttling-test"


@pytest.fixture
def dynamodb(moto_aws) -> BaseClient:
    """A table keyed pk/sk, and a client that makes 3 attempts of a request (botocore's standard mode)."""
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk")],
    )
    return boto3.client("dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))


@pytest.fixture
def boundary(dynamodb):
    boundary = SdkBoundary(strict=True)
    undo = boundary.install()
    yield boundary
    undo()


def key(sk: str) -> dict:
    return {"pk": {"S": "p"}, "sk": {"S": sk}}


def put(sk: str) -> dict:
    return {"PutRequest": {"Item": key(sk)}}


def stored(client: BaseClient) -> list[str]:
    return sorted(item["sk"]["S"] for item in client.scan(TableName=TABLE)["Items"])


def test_a_fault_of_every_operation_throttles_each_attempt_of_any_request(dynamodb, boundary):
    boundary.inject(Fault("dynamodb", "*", code="ThrottlingException", times=4, via_http=True))

    with pytest.raises(dynamodb.exceptions.ThrottlingException):  # attempts 1 to 3: botocore gives up
        dynamodb.put_item(TableName=TABLE, Item=key("a"))
    answer = dynamodb.get_item(TableName=TABLE, Key=key("a"))  # attempt 4 throttled, 5 answered

    assert answer["ResponseMetadata"]["RetryAttempts"] == 1 and "Item" not in answer
    assert len(boundary.fired) == 4
    assert [(call.operation, call.error) for call in boundary.calls] == [
        ("PutItem", "ThrottlingException"),
        ("GetItem", None),
    ]


def test_batch_writes_left_unprocessed_come_back_and_the_others_land(dynamodb, boundary):
    picked = lambda request: request["PutRequest"]["Item"]["sk"]["S"] in ("b", "d")  # noqa: E731
    fault = Fault("dynamodb", "BatchWriteItem", code="ProvisionedThroughputExceededException", unprocessed=picked)
    boundary.inject(fault)

    answer = dynamodb.batch_write_item(RequestItems={TABLE: [put(sk) for sk in "abcde"]})
    again = dynamodb.batch_write_item(RequestItems=answer["UnprocessedItems"])

    assert answer["UnprocessedItems"] == {TABLE: [put("b"), put("d")]} and again["UnprocessedItems"] == {}
    assert stored(dynamodb) == ["a", "b", "c", "d", "e"] and boundary.fired == [fault]


def test_batch_reads_left_unprocessed_come_back_as_asked_and_the_others_are_read(dynamodb, boundary):
    dynamodb.batch_write_item(RequestItems={TABLE: [put(sk) for sk in "abc"]})
    boundary.inject(
        Fault(
            "dynamodb",
            "BatchGetItem",
            code="ProvisionedThroughputExceededException",
            unprocessed=lambda asked: asked["sk"]["S"] == "b",
        )
    )

    answer = dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [key(sk) for sk in "abc"], "ConsistentRead": True}})

    assert sorted(item["sk"]["S"] for item in answer["Responses"][TABLE]) == ["a", "c"]
    assert answer["UnprocessedKeys"] == {TABLE: {"Keys": [key("b")], "ConsistentRead": True}}


def test_a_batch_it_would_leave_all_unprocessed_is_refused_whole_as_dynamodb_refuses_it(dynamodb, boundary):
    boundary.inject(
        Fault(
            "dynamodb",
            "BatchWriteItem",
            code="ProvisionedThroughputExceededException",
            unprocessed=lambda request: True,
        )
    )

    with pytest.raises(dynamodb.exceptions.ProvisionedThroughputExceededException):
        dynamodb.batch_write_item(RequestItems={TABLE: [put(sk) for sk in "ab"]})

    assert stored(dynamodb) == []


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (
            lambda: Fault("dynamodb", "PutItem", code="ThrottlingException", unprocessed=lambda item: True),
            "leaves requests unprocessed",
        ),
        (
            lambda: Fault("dynamodb", "BatchWriteItem", "crash-before", unprocessed=lambda item: True),
            "leaves requests unprocessed",
        ),
        (
            lambda: Fault(
                "dynamodb", "BatchGetItem", code="ThrottlingException", via_http=True, unprocessed=lambda key: True
            ),
            "leaves requests unprocessed",
        ),
    ],
)
def test_only_an_error_of_a_batch_request_leaves_items_unprocessed(fault, problem):
    with pytest.raises(ValueError, match=problem):
        fault()


def test_a_fault_of_every_operation_cancels_no_transaction():
    with pytest.raises(ValueError, match="only a transaction is cancelled"):
        SdkBoundary().inject(Fault("dynamodb", "*", code="TransactionCanceledException"))
