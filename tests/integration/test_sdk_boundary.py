"""The SDK boundary on in-process moto: AWS's limits that moto lacks, faults, recording, index lag."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from bulk_import.concurrency import map_all
from bulk_import_local.sdk_boundary import (
    MAX_ITEM_SIZE,
    Fault,
    SdkBoundary,
    SimulatedCrash,
    current_function,
    item_size,
)

TABLE = "boundary-test"
INDEX = "by-status"


@pytest.fixture
def dynamodb(moto_aws) -> BaseClient:
    """A table keyed pk/sk with a global index on status (created before any boundary is installed)."""
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "status")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": INDEX,
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    return client


@pytest.fixture
def install() -> Iterator[Callable[..., SdkBoundary]]:
    """Installs a boundary for the rest of the test."""
    undos = []

    def install_boundary(**options: Any) -> SdkBoundary:
        boundary = SdkBoundary(**options)
        undos.append(boundary.install())
        return boundary

    yield install_boundary
    for undo in reversed(undos):
        undo()


def item(sk: str, **attributes: dict) -> dict:
    return {"pk": {"S": "p"}, "sk": {"S": sk}, **attributes}


def stored(client: BaseClient, sk: str) -> dict | None:
    return client.get_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": sk}}).get("Item")


def put_request(operation: str, attributes: dict) -> Callable[[BaseClient], Any]:
    """The call writing `attributes` as a whole item with `operation`."""
    return {
        "PutItem": lambda client: client.put_item(TableName=TABLE, Item=attributes),
        "TransactWriteItems": lambda client: client.transact_write_items(
            TransactItems=[{"Put": {"TableName": TABLE, "Item": attributes}}]
        ),
        "BatchWriteItem": lambda client: client.batch_write_item(
            RequestItems={TABLE: [{"PutRequest": {"Item": attributes}}]}
        ),
    }[operation]


def refusal(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]


def nested_in_maps(maps: int) -> dict:
    value: dict = {"S": "deep"}
    for _ in range(maps):
        value = {"M": {"a": value}}
    return value


# --- Installing ---


def test_wraps_clients_created_before_the_install_and_the_undo_unwraps_them(dynamodb):
    original = BaseClient._make_api_call
    boundary = SdkBoundary()
    undo = boundary.install()
    dynamodb.describe_table(TableName=TABLE)
    undo()
    dynamodb.describe_table(TableName=TABLE)

    assert [(call.service, call.operation) for call in boundary.calls] == [("dynamodb", "DescribeTable")]
    assert BaseClient._make_api_call is original


def test_an_undo_out_of_order_is_refused():
    first, second = SdkBoundary().install(), SdkBoundary().install()
    with pytest.raises(RuntimeError):
        first()
    second()
    first()


# --- Strict mode: limits moto lacks ---


@pytest.mark.parametrize("operation", ["PutItem", "TransactWriteItems", "BatchWriteItem"])
def test_an_item_over_400_kb_counted_the_aws_way_is_refused_though_moto_accepts_it(dynamodb, install, operation):
    # 137,000 two-letter strings: moto counts 274,009 bytes (no List overhead), AWS 411,012 (3 for the
    # List, 1 per element)
    too_big = item("big", v={"L": [{"S": "ab"}] * 137_000})
    assert item_size(too_big) == 411_012
    put_request(operation, too_big)(dynamodb)  # moto alone
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "big"}})

    install()
    assert refusal(lambda: put_request(operation, too_big)(dynamodb)) == (
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    )
    assert stored(dynamodb, "big") is None


def test_an_item_of_exactly_400_kb_is_accepted_and_one_byte_more_refused(dynamodb, install):
    # NULLs cost AWS 2 bytes each (1 + 1 as a List element) and moto 1: moto counts 204,802 bytes, accepts both
    nulls = (MAX_ITEM_SIZE - item_size(item("max", v={"L": []}))) // 2
    at_limit = item("max", v={"L": [{"NULL": True}] * nulls})
    one_byte_more = {**at_limit, "x": {"S": ""}}
    assert (item_size(at_limit), item_size(one_byte_more)) == (MAX_ITEM_SIZE, MAX_ITEM_SIZE + 1)
    install()

    dynamodb.put_item(TableName=TABLE, Item=at_limit)
    assert refusal(lambda: dynamodb.put_item(TableName=TABLE, Item=one_byte_more))[0] == "ValidationException"


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "héllo"}, 6),  # UTF-8 bytes
        ({"N": "123.45"}, 4),  # 5 significant digits: 3 + 1
        ({"N": "1000"}, 2),  # trailing zeros don't count
        ({"N": "-0.000012"}, 2),  # nor leading ones
        ({"B": b"\x00\x01\x02"}, 3),
        ({"BOOL": False}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "22"]}, 4),
        ({"L": []}, 3),
        ({"L": [{"S": "a"}, {"N": "1"}]}, 3 + (1 + 1) + (2 + 1)),
        ({"M": {"key": {"S": "v"}}}, 3 + (3 + 1 + 1)),
    ],
)
def test_item_size_follows_the_documented_formula(value, size):
    assert item_size({"name": value}) == 4 + size


@pytest.mark.parametrize("operation", ["PutItem", "TransactWriteItems", "BatchWriteItem"])
def test_an_item_nested_deeper_than_32_levels_is_refused_though_moto_accepts_it(dynamodb, install, operation):
    put_request(operation, item("deep", v=nested_in_maps(32)))(dynamodb)  # moto alone
    install()

    put_request(operation, item("deep", v=nested_in_maps(31)))(dynamodb)  # the item, 31 Maps, the value
    assert refusal(lambda: put_request(operation, item("deep", v=nested_in_maps(32)))(dynamodb)) == (
        "ValidationException",
        "Nesting Levels have exceeded supported limits: "
        "Attributes in the item have nested levels beyond supported limit",
    )


def test_an_update_value_nested_deeper_than_32_levels_is_refused(dynamodb, install):
    update = dict(
        TableName=TABLE,
        Key=item("deep"),
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": nested_in_maps(32)},
    )
    dynamodb.update_item(**update)  # moto alone
    install()

    assert refusal(lambda: dynamodb.update_item(**update))[0] == "ValidationException"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("NaN", "The parameter cannot be converted to a numeric value: NaN"),
        ("-Infinity", "The parameter cannot be converted to a numeric value: -Infinity"),
        ("1" * 39, "Attempting to store more than 38 significant digits in a Number"),
        ("1E+126", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1E-131", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
    ],
)
def test_numbers_dynamodb_cannot_store_are_refused_wherever_they_are(dynamodb, install, number, message):
    # moto refuses NaN and Infinity only as a top-level number of a put: not in an update, a set or a list
    requests = [
        lambda: dynamodb.update_item(
            TableName=TABLE,
            Key=item("n"),
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"N": number}},
        ),
        lambda: dynamodb.put_item(TableName=TABLE, Item=item("n", v={"NS": ["1", number]})),
        lambda: dynamodb.put_item(TableName=TABLE, Item=item("n", v={"L": [{"N": number}]})),
    ]
    for request in requests:
        request()
    install()

    for request in requests:
        assert refusal(request) == ("ValidationException", message)


@pytest.mark.parametrize(
    "number", ["9.9999999999999999999999999999999999999E+125", "1E-130", "-0", "1" * 38, "1" * 38 + "000"]
)
def test_numbers_dynamodb_stores_pass(dynamodb, install, number):
    install()
    dynamodb.put_item(TableName=TABLE, Item=item("n", v={"N": number}))


def test_a_batch_write_of_more_than_25_requests_is_refused_though_moto_accepts_it(dynamodb, install):
    def batch(count: int, first: int = 0) -> list[dict]:
        return [{"PutRequest": {"Item": item(str(first + number))}} for number in range(count)]

    dynamodb.batch_write_item(RequestItems={TABLE: batch(26)})  # moto alone
    dynamodb.create_table(
        TableName="other",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk")],
    )
    install()

    dynamodb.batch_write_item(RequestItems={TABLE: batch(25, first=100)})
    code, message = refusal(lambda: dynamodb.batch_write_item(RequestItems={TABLE: batch(26, first=200)}))
    assert code == "ValidationException" and "Member must have length less than or equal to 25" in message
    assert refusal(lambda: dynamodb.batch_write_item(RequestItems={TABLE: batch(13), "other": batch(13)})) == (
        "ValidationException",
        "Too many items requested for the BatchWriteItem call",
    )


def test_an_execution_input_over_256_kib_of_utf8_is_refused_though_moto_accepts_it(moto_aws, install):
    stepfunctions = boto3.client("stepfunctions")
    machine = stepfunctions.create_state_machine(
        name="m",
        roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    at_limit = json.dumps({"a": "x" * (262_144 - len('{"a": ""}'))})
    two_byte_characters = json.dumps({"a": "é" * 131_072}, ensure_ascii=False)
    assert len(at_limit.encode()) == 262_144 and len(two_byte_characters) < 262_144 < len(two_byte_characters.encode())
    # named: after a local stack in the same process, moto names every unnamed execution "None"
    stepfunctions.start_execution(stateMachineArn=machine, name="moto", input=two_byte_characters)  # moto alone
    install()

    stepfunctions.start_execution(stateMachineArn=machine, name="at-limit", input=at_limit)
    code, message = refusal(
        lambda: stepfunctions.start_execution(stateMachineArn=machine, name="over", input=two_byte_characters)
    )
    assert code == "InvalidExecutionInput" and f"{len(two_byte_characters.encode())} bytes" in message


def test_a_lambda_request_over_6_mb_is_refused_before_it_is_sent(moto_aws, install):
    lambda_client = boto3.client("lambda")
    payload = json.dumps({"a": "x" * 6_291_456})
    # moto alone doesn't measure the request: it looks the function up
    assert (
        refusal(lambda: lambda_client.invoke(FunctionName="nowhere", Payload=payload))[0] == "ResourceNotFoundException"
    )
    boundary = install()

    with pytest.raises(lambda_client.exceptions.RequestTooLargeException) as refused:
        lambda_client.invoke(FunctionName="nowhere", Payload=payload)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert (
        refused.value.response["Error"]["Message"]
        == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    # an asynchronous invocation has its own limit, not checked here
    assert (
        refusal(lambda: lambda_client.invoke(FunctionName="nowhere", Payload=payload, InvocationType="Event"))[0]
        == "ResourceNotFoundException"
    )
    assert [call.error for call in boundary.calls] == ["RequestTooLargeException", "ResourceNotFoundException"]


def test_strict_false_leaves_the_limits_to_moto(dynamodb, install):
    install(strict=False)
    dynamodb.put_item(TableName=TABLE, Item=item("deep", v=nested_in_maps(40)))


def test_moto_already_refuses_what_the_boundary_leaves_to_it(dynamodb):
    """The checked facts the boundary relies on: if a moto upgrade drops one, this fails."""
    keys = [{"pk": {"S": "p"}, "sk": {"S": str(number)}} for number in range(101)]
    assert (
        refusal(
            lambda: dynamodb.transact_write_items(
                TransactItems=[{"Put": {"TableName": TABLE, "Item": key}} for key in keys]
            )
        )[0]
        == "ValidationException"
    )
    assert (
        refusal(
            lambda: dynamodb.transact_get_items(
                TransactItems=[{"Get": {"TableName": TABLE, "Key": key}} for key in keys[:26]]
            )
        )[0]
        == "ValidationException"
    )
    assert refusal(lambda: dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": keys}}))[0] == "ValidationException"
    assert (
        refusal(lambda: dynamodb.put_item(TableName=TABLE, Item=item("n", v={"N": "NaN"})))[0] == "ValidationException"
    )
    assert (
        refusal(lambda: dynamodb.put_item(TableName=TABLE, Item=item("s", v={"S": "x" * 410_000})))[0]
        == "ValidationException"
    )


def test_moto_already_answers_a_batch_get_over_16_mb_in_part(dynamodb):
    for number in range(45):
        dynamodb.put_item(TableName=TABLE, Item=item(str(number), v={"S": "x" * 390_000}))
    keys = [{"pk": {"S": "p"}, "sk": {"S": str(number)}} for number in range(45)]

    response = dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": keys}})

    returned, unprocessed = len(response["Responses"][TABLE]), len(response["UnprocessedKeys"][TABLE]["Keys"])
    assert returned * 390_000 <= 16 * 1024 * 1024 and (returned, unprocessed) == (43, 2)


# --- Faults ---


def test_crash_before_on_the_second_matching_call_of_a_function_loses_that_write(dynamodb, install):
    boundary = install()
    fault = boundary.inject(
        Fault("dynamodb", "TransactWriteItems", "crash-before", function="ImportBatchFunction", occurrence=2)
    )
    put = put_request("TransactWriteItems", item("a"))
    put(dynamodb)  # another function's call doesn't count
    token = current_function.set("ImportBatchFunction")
    try:
        put_request("TransactWriteItems", item("b"))(dynamodb)
        with pytest.raises(SimulatedCrash):
            put_request("TransactWriteItems", item("c"))(dynamodb)
        put_request("TransactWriteItems", item("d"))(dynamodb)
    finally:
        current_function.reset(token)

    assert [sk for sk in "abcd" if stored(dynamodb, sk)] == ["a", "b", "d"]
    assert boundary.fired == [fault]
    assert [(call.function, call.error) for call in boundary.calls if call.operation == "TransactWriteItems"] == [
        (None, None),
        ("ImportBatchFunction", None),
        ("ImportBatchFunction", "SimulatedCrash"),
        ("ImportBatchFunction", None),
    ]


def test_crash_after_lands_the_write_and_no_except_exception_stops_it(dynamodb, install):
    boundary = install()
    boundary.inject(Fault("dynamodb", "PutItem", "crash-after", times=2))

    def handler() -> str:
        try:
            dynamodb.put_item(TableName=TABLE, Item=item("a"))
        except Exception:  # what a handler's error handling does
            return "handled"
        return "done"

    with pytest.raises(SimulatedCrash):
        handler()
    with pytest.raises(SimulatedCrash):  # the second time too, though the put fails
        dynamodb.put_item(TableName=TABLE, Item=item("b"), ConditionExpression="attribute_exists(pk)")
    assert stored(dynamodb, "a") is not None and stored(dynamodb, "b") is None
    assert handler() == "done"


def test_a_cancelled_transaction_is_shaped_as_moto_and_aws_shape_it(dynamodb, install):
    dynamodb.put_item(TableName=TABLE, Item=item("taken"))
    actions = [
        {"Put": {"TableName": TABLE, "Item": item("taken"), "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Put": {"TableName": TABLE, "Item": item("free")}},
    ]
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as real:
        dynamodb.transact_write_items(TransactItems=actions)
    boundary = install()
    boundary.inject(Fault("dynamodb", "TransactWriteItems", code="TransactionCanceledException"))

    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as injected:
        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": item(sk)}} for sk in "ab"])

    assert injected.value.response.keys() == real.value.response.keys()
    assert injected.value.response["Error"].keys() == real.value.response["Error"].keys()
    assert (
        injected.value.response["CancellationReasons"]
        == [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}] * 2
    )
    assert (
        injected.value.response["Message"]
        == injected.value.response["Error"]["Message"]
        == "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[TransactionConflict, TransactionConflict]"
    )
    assert stored(dynamodb, "a") is None


def test_an_injected_throttle_is_not_retried_by_botocore(dynamodb, install):
    boundary = install()
    fault = boundary.inject(Fault("dynamodb", "PutItem", code="ProvisionedThroughputExceededException", times=5))

    with pytest.raises(dynamodb.exceptions.ProvisionedThroughputExceededException):
        dynamodb.put_item(TableName=TABLE, Item=item("a"))

    assert boundary.fired == [fault] and stored(dynamodb, "a") is None


def test_a_throttle_via_http_is_retried_by_botocore_and_lands(dynamodb, install):
    boundary = install()
    fault = boundary.inject(Fault("dynamodb", "PutItem", code="ThrottlingException", via_http=True))

    response = dynamodb.put_item(TableName=TABLE, Item=item("a"))  # botocore waits up to 1 s, as on AWS

    assert response["ResponseMetadata"]["RetryAttempts"] == 1 and stored(dynamodb, "a") is not None
    assert boundary.fired == [fault]
    assert next((call.operation, call.error) for call in boundary.calls) == ("PutItem", None)


def test_via_http_counts_attempts_and_botocore_gives_up_after_its_last(dynamodb, install):
    # botocore's standard retry mode: 4 attempts for DynamoDB, a 500 waits 25, 50, 100 ms at most
    boundary = install()
    boundary.inject(Fault("dynamodb", "PutItem", code="InternalServerError", times=5, via_http=True))

    with pytest.raises(dynamodb.exceptions.InternalServerError) as failed:
        dynamodb.put_item(TableName=TABLE, Item=item("a"))  # attempts 1 to 4 fail: botocore gives up
    retried = dynamodb.put_item(TableName=TABLE, Item=item("b"))  # attempt 5 fails, 6 lands

    assert failed.value.response["Error"] == {"Code": "InternalServerError", "Message": "Internal server error"}
    assert (
        failed.value.response["ResponseMetadata"] | {"HTTPStatusCode": 500, "RetryAttempts": 3}
        == failed.value.response["ResponseMetadata"]
    )
    assert retried["ResponseMetadata"]["RetryAttempts"] == 1 and len(boundary.fired) == 5
    assert stored(dynamodb, "a") is None and stored(dynamodb, "b") is not None


def test_s3_slow_down_via_http_is_retried(moto_aws, install):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bucket")
    boundary = install()
    boundary.inject(Fault("s3", "PutObject", code="SlowDown", via_http=True))

    assert s3.put_object(Bucket="bucket", Key="k", Body=b"data")["ResponseMetadata"]["RetryAttempts"] == 1
    assert s3.get_object(Bucket="bucket", Key="k")["Body"].read() == b"data"
    assert len(boundary.fired) == 1


def test_a_fault_matches_on_its_predicate_and_clear_faults_disarms_it(dynamodb, install):
    boundary = install()
    boundary.inject(
        Fault(
            "dynamodb",
            "PutItem",
            code="ThrottlingException",
            times=100,
            when=lambda params: params["Item"]["sk"]["S"].startswith("x"),
        )
    )

    dynamodb.put_item(TableName=TABLE, Item=item("a"))
    assert refusal(lambda: dynamodb.put_item(TableName=TABLE, Item=item("x1")))[0] == "ThrottlingException"
    boundary.clear_faults()
    dynamodb.put_item(TableName=TABLE, Item=item("x2"))
    assert len(boundary.fired) == 1


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (lambda: Fault("dynamodb", "PutItem", "error"), "needs its error code"),
        (lambda: Fault("dynamodb", "PutItem", "crash-after", via_http=True), "only an error"),
        (lambda: Fault("dynamodb", "PutItem", "crash-before", occurrence=0), "count from 1"),
        (lambda: SdkBoundary().inject(Fault("dynamodb", "PutItems", "crash-before")), "no operation 'PutItems'"),
        (
            lambda: SdkBoundary().inject(Fault("dynamodb", "PutItem", code="TransactionCanceledException")),
            "transaction",
        ),
    ],
)
def test_a_fault_that_could_not_fire_as_meant_is_refused(fault, problem):
    with pytest.raises(ValueError, match=problem):
        fault()


# --- Recording ---


def test_every_call_is_recorded_with_its_function_and_whether_it_writes(dynamodb, install):
    boundary = install()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bucket")

    def write(sk: str) -> None:
        dynamodb.put_item(TableName=TABLE, Item=item(sk, text={"S": "y" * 1000}))

    token = current_function.set("ImportBatchFunction")
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            map_all(pool, write, ["a", "b"])
        s3.put_object(Bucket="bucket", Key="k", Body=b"12345")
        stored(dynamodb, "a")
    finally:
        current_function.reset(token)
    dynamodb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}})

    calls = [(call.function, call.service, call.operation, call.is_write) for call in boundary.calls]
    assert calls == [
        (None, "s3", "CreateBucket", True),
        ("ImportBatchFunction", "dynamodb", "PutItem", True),
        ("ImportBatchFunction", "dynamodb", "PutItem", True),
        ("ImportBatchFunction", "s3", "PutObject", True),
        ("ImportBatchFunction", "dynamodb", "GetItem", False),
        (None, "dynamodb", "Query", False),
    ]
    put = boundary.calls[1].params
    assert put["Item"]["sk"]["S"] in "ab" and put["Item"]["text"]["S"].endswith("... (1000 characters)")
    assert boundary.calls[3].params["Body"] == "<5 bytes>"


# --- Index lag ---


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def by_status(client: BaseClient, status: str) -> dict:
    return client.query(
        TableName=TABLE,
        IndexName=INDEX,
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )


def test_a_new_item_shows_in_a_global_index_only_after_the_lag(dynamodb, install):
    dynamodb.put_item(TableName=TABLE, Item=item("old", status={"S": "active"}))  # before the boundary
    clock = Clock()
    install(index_lag=2.0, clock=clock)
    dynamodb.put_item(TableName=TABLE, Item=item("new", status={"S": "active"}))

    query = by_status(dynamodb, "active")
    assert [found["sk"]["S"] for found in query["Items"]] == ["old"] and query["Count"] == query["ScannedCount"] == 1
    scan = dynamodb.scan(TableName=TABLE, IndexName=INDEX)
    assert [found["sk"]["S"] for found in scan["Items"]] == ["old"] and scan["Count"] == 1
    assert stored(dynamodb, "new") is not None  # the table itself is consistent
    clock.now += 2.0
    assert sorted(found["sk"]["S"] for found in by_status(dynamodb, "active")["Items"]) == ["new", "old"]


def test_every_kind_of_write_restarts_the_lag(dynamodb, install):
    clock = Clock()
    for sk in "abcd":
        dynamodb.put_item(TableName=TABLE, Item=item(sk, status={"S": "active"}))
    assert by_status(dynamodb, "active")["Count"] == 4  # moto alone shows every item at once
    install(index_lag=1.0, clock=clock)

    dynamodb.update_item(
        TableName=TABLE, Key=item("a"), UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "1"}}
    )
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": item("b"),
                    "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "1"}},
                }
            },
            {"ConditionCheck": {"TableName": TABLE, "Key": item("d"), "ConditionExpression": "attribute_exists(pk)"}},
        ]
    )
    dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item("c", status={"S": "active"})}}]})

    assert [found["sk"]["S"] for found in by_status(dynamodb, "active")["Items"]] == ["d"]
    clock.now += 1.0
    assert by_status(dynamodb, "active")["Count"] == 4


# --- BatchExecuteStatement: DynamoDB's INSERT (moto_partiql.py), each statement answered alone ---


@pytest.fixture
def partiql(dynamodb) -> Iterator[BaseClient]:
    from bulk_import_local import moto_partiql

    undo = moto_partiql.install()
    yield dynamodb
    undo()


def insert(attributes: dict) -> dict:
    names = ", ".join(f"'{name}': ?" for name in attributes)
    return {"Statement": f'INSERT INTO "{TABLE}" VALUE {{{names}}}', "Parameters": list(attributes.values())}


def test_an_insert_of_an_existing_item_fails_alone_with_duplicate_item_and_leaves_it(partiql):
    partiql.put_item(TableName=TABLE, Item=item("a", v={"S": "first"}))

    answers = partiql.batch_execute_statement(
        Statements=[insert(item("a", v={"S": "second"})), insert(item("b", v={"M": {"n": {"N": "1"}}}))]
    )["Responses"]

    assert answers[0]["Error"]["Code"] == "DuplicateItem"
    assert "Error" not in answers[1]
    assert stored(partiql, "a")["v"] == {"S": "first"}
    assert stored(partiql, "b")["v"] == {"M": {"n": {"N": "1"}}}


def test_more_than_25_statements_are_refused(partiql, install):
    install()
    assert (
        refusal(lambda: partiql.batch_execute_statement(Statements=[insert(item(f"s{n}")) for n in range(26)]))[0]
        == "ValidationException"
    )
    assert stored(partiql, "s0") is None


def test_an_insert_aws_refuses_fails_alone_with_a_validation_error(partiql, install):
    install()
    answers = partiql.batch_execute_statement(
        Statements=[
            insert(item("big", v={"L": [{"S": "ab"}] * 137_000})),
            insert(item("deep", v=nested_in_maps(32))),
            insert(item("fine")),
        ]
    )["Responses"]

    assert [answer.get("Error", {}).get("Code") for answer in answers] == ["ValidationError", "ValidationError", None]
    assert "Item size has exceeded" in answers[0]["Error"]["Message"]
    assert (stored(partiql, "big"), stored(partiql, "deep")) == (None, None)
    assert stored(partiql, "fine") is not None


def test_a_statement_fault_answers_the_statements_it_picks_and_the_others_land(partiql, install):
    boundary = install()
    boundary.inject(
        Fault(
            "dynamodb",
            "BatchExecuteStatement",
            code="ThrottlingError",
            times=1,
            statements=lambda statement: statement["Parameters"][1]["S"] in ("b", "c"),
        )
    )
    first = partiql.batch_execute_statement(Statements=[insert(item(sk)) for sk in "abcd"])["Responses"]
    again = partiql.batch_execute_statement(Statements=[insert(item(sk)) for sk in "bc"])["Responses"]

    assert [answer.get("Error", {}).get("Code") for answer in first] == [
        None,
        "ThrottlingError",
        "ThrottlingError",
        None,
    ]
    assert [stored(partiql, sk) is not None for sk in "ad"] == [True, True]
    assert all("Error" not in answer for answer in again)  # the fault fired once
    assert [stored(partiql, sk) is not None for sk in "bc"] == [True, True]


def test_only_an_error_of_a_batch_execute_statement_answers_statements():
    with pytest.raises(ValueError, match="answers its statements"):
        Fault("dynamodb", "PutItem", code="ThrottlingError", statements=lambda statement: True)
    with pytest.raises(ValueError, match="answers its statements"):
        Fault("dynamodb", "BatchExecuteStatement", "crash-after", statements=lambda statement: True)


def test_index_lag_hides_what_an_insert_wrote_not_what_a_refused_one_found(partiql, install):
    partiql.put_item(TableName=TABLE, Item=item("old", status={"S": "s"}))
    install(index_lag=3600)
    answers = partiql.batch_execute_statement(
        Statements=[insert(item("old", status={"S": "s"})), insert(item("new", status={"S": "s"}))]
    )["Responses"]
    assert answers[0]["Error"]["Code"] == "DuplicateItem" and "Error" not in answers[1]

    found = partiql.query(
        TableName=TABLE,
        IndexName=INDEX,
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "s"}},
    )["Items"]
    assert [row["sk"]["S"] for row in found] == ["old"]  # "new" is too recent; "old" was not written
