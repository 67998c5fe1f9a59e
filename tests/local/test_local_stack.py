"""The local stack serves template.yaml's routes over HTTP and runs Lambda through moto in-process."""

import base64
import http.client
import inspect
import json
import threading
import time
from decimal import Decimal
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from moto.awslambda.models import LambdaFunction

from bulk_import.domain.credentials import ApiPermission
from bulk_import.domain.operation import ImportOperation, new_operation_id, utc_now
from bulk_import.logic.admin import create_api_credential
from bulk_import_cli import demo
from bulk_import_local.gateway import proxy_event
from bulk_import_local.moto_footprint import is_packed
from bulk_import_local.sam_template import Route
from tests.support.events import load_event
from tests.support.stack import TEMPLATE

ROOT_AUTH = {"Authorization": f"Bearer {demo.ROOT_TOKEN}"}
RC_LOGIN = {"X-User-Id": demo.ROCKETCHAT_USER_ID, "X-Auth-Token": demo.ROCKETCHAT_AUTH_TOKEN}


def test_every_route_of_the_template_is_served(local_stack):
    for route in TEMPLATE.routes():
        path = route.path.replace("{CellName}", "demo").replace("{Name}", "x.zip")
        response = requests.request(route.method, local_stack.api_url + path, timeout=10)
        assert response.status_code != 403 or "Missing Authentication Token" not in response.text, route


def test_personium_status_over_http(local_stack):
    response = requests.get(f"{local_stack.api_url}/demo/__import", headers=ROOT_AUTH, timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "importation in progress"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Personium-Version"] == "1.7.22"
    assert response.headers["X-Personium-RequestKey"]


def test_rocketchat_status_over_http(local_stack):
    # Other tests in this package run imports on this cell: check the contract, not one state.
    response = requests.get(f"{local_stack.api_url}/api/v1/import.status", headers=RC_LOGIN, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["success"] is True
    assert body["state"] in {"new", "loading", "ready", "importing", "error", "canceled", "done"}
    assert set(body["operation"]) >= {
        "_id",
        "type",
        "importerKey",
        "ts",
        "status",
        "valid",
        "user",
        "_updatedAt",
        "count",
    }


def test_unknown_path_answers_like_api_gateway(local_stack):
    response = requests.get(f"{local_stack.api_url}/no/such/route/here", timeout=10)
    assert (response.status_code, response.json()) == (403, {"message": "Missing Authentication Token"})


def test_wrong_method_answers_like_api_gateway(local_stack):
    response = requests.delete(f"{local_stack.api_url}/api/v1/import.status", timeout=10)
    assert response.status_code == 403


def test_repeated_headers_reach_the_handler_separately(local_stack):
    # Both X-Override headers must arrive: the first one carries the credential.
    url = urlsplit(local_stack.api_url)
    client = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    client.putrequest("GET", "/demo/__import")
    client.putheader("X-Override", f"Authorization: Bearer {demo.ROOT_TOKEN}")
    client.putheader("X-Override", "Accept: application/json")
    client.endheaders()
    response = client.getresponse()
    assert response.status == 200, response.read()


def test_query_strings_reach_the_handler(local_stack):
    response = requests.get(
        f"{local_stack.api_url}/demo/__import",
        params={"p_cookie_peer": demo.ROOT_COOKIE_PEER},
        cookies={"p_cookie": demo.ROOT_TOKEN},
        timeout=10,
    )
    assert response.status_code == 200


def test_proxy_event_has_the_shape_api_gateway_sends():
    route = Route(method="GET", path="/{CellName}/__import", function="PersoniumStatusFunction")
    event = proxy_event(
        route,
        "GET",
        "/demo/__import?a=1&a=2",
        [("X-A", "1"), ("X-A", "2")],
        b"",
        "dev",
        {"CellName": "demo"},
        "127.0.0.1",
        ("application/zip",),
    )
    reference = load_event("PersoniumStatusFunction/status-in-progress.json")
    assert set(event) == set(reference)
    assert set(event["requestContext"]) >= {"requestId", "resourcePath", "httpMethod", "stage", "path", "identity"}
    assert event["multiValueHeaders"]["X-A"] == ["1", "2"] and event["headers"]["X-A"] == "2"
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["requestContext"]["path"] == "/demo/__import"
    assert event["body"] is None and event["queryStringParameters"] == {"a": "2"}


def test_binary_bodies_arrive_base64_encoded():
    route = Route(method="PUT", path="/{CellName}/__snapshot/{Name}", function="PersoniumImportFunction")
    event = proxy_event(
        route,
        "PUT",
        "/demo/__snapshot/s.zip",
        [("Content-Type", "application/zip")],
        b"PK\x03\x04\xff",
        "dev",
        {"CellName": "demo", "Name": "s.zip"},
        "127.0.0.1",
        ("application/zip",),
    )
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"PK\x03\x04\xff"


def test_the_lambda_seam_is_where_moto_calls_it():
    # moto's internal API: if this fails, moto moved the seam (functions_host.install_lambda_seam).
    assert list(inspect.signature(LambdaFunction.invoke).parameters) == [
        "self",
        "body",
        "request_headers",
        "response_headers",
    ]


def test_moto_lambda_invoke_runs_the_handler_in_process(local_stack):
    function = local_stack.host.functions["PersoniumStatusFunction"]
    response = boto3.client("lambda").invoke(
        FunctionName=function.name,
        Payload=json.dumps(load_event("PersoniumStatusFunction/status-in-progress.json")),
    )
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response
    assert result["statusCode"] == 200 and json.loads(result["body"])["progress"] == "81%"


def test_a_handler_exception_reaches_moto_as_a_function_error(local_stack):
    function = local_stack.host.functions["PersoniumStatusFunction"]
    response = boto3.client("lambda").invoke(FunctionName=function.name, Payload=json.dumps({"not": "an event"}))
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"]


@pytest.mark.parametrize("route", list(TEMPLATE.routes()), ids=lambda r: f"{r.method} {r.path}")
def test_routes_are_read_from_the_template(route):
    assert route.function in TEMPLATE.functions()


def test_moto_transaction_seam_is_where_the_patch_expects_it():
    # moto's internal API: if this fails, moto moved what moto_transactions.py patches.
    from moto.dynamodb import models

    assert list(inspect.signature(models.DynamoDBBackend.transact_write_items).parameters) == ["self", "transact_items"]
    assert hasattr(models, "copy") and hasattr(models.copy, "deepcopy")


def test_a_failed_transaction_undoes_only_its_own_items(local_stack):
    client = boto3.client("dynamodb")
    table = local_stack.store.table_name
    client.put_item(TableName=table, Item={"PK": {"S": "tx-a"}, "SK": {"S": "x"}, "n": {"N": "1"}})
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"PK": {"S": "tx-a"}, "SK": {"S": "x"}},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"PK": {"S": "tx-a"}, "SK": {"S": "y"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )
    item = client.get_item(TableName=table, Key={"PK": {"S": "tx-a"}, "SK": {"S": "x"}})["Item"]
    assert item["n"] == {"N": "1"}
    assert "Item" not in client.get_item(TableName=table, Key={"PK": {"S": "tx-a"}, "SK": {"S": "y"}})
    # The rollback restored the touched items only: the rest of the table is still there.
    assert "Item" in client.get_item(TableName=table, Key={"PK": {"S": "CELL#demo"}, "SK": {"S": "CELL"}})


def test_a_plain_write_waits_for_a_running_transaction(local_stack, monkeypatch):
    # On AWS no write lands between a transaction's condition checks and its writes; moto checks
    # and writes item by item, and its rollback would then erase the plain write.
    from moto.dynamodb.models import DynamoDBBackend

    client = boto3.client("dynamodb")
    table = local_stack.store.table_name
    key_x, key_y = {"PK": {"S": "tx-b"}, "SK": {"S": "x"}}, {"PK": {"S": "tx-b"}, "SK": {"S": "y"}}
    client.put_item(TableName=table, Item={**key_x, "n": {"N": "1"}})
    order: list[str] = []
    transaction_between_its_items = threading.Event()
    original_get_item = DynamoDBBackend.get_item

    def get_item(self, table_name, keys, *args, **kwargs):
        if keys == key_y:  # the transaction wrote x and is about to check y
            transaction_between_its_items.set()
            time.sleep(0.3)  # room for the plain write to land, were it allowed to
            order.append("transaction checked y")
        return original_get_item(self, table_name, keys, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", get_item)

    def plain_write() -> None:
        transaction_between_its_items.wait(5)
        client.update_item(
            TableName=table,
            Key=key_x,
            UpdateExpression="SET plain = :p",
            ExpressionAttributeValues={":p": {"S": "kept"}},
        )
        order.append("plain write landed")

    writer = threading.Thread(target=plain_write)
    writer.start()
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": key_x,
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Put": {"TableName": table, "Item": key_y, "ConditionExpression": "attribute_exists(PK)"}},
            ]
        )
    writer.join(5)
    assert order == ["transaction checked y", "plain write landed"]
    item = client.get_item(TableName=table, Key=key_x)["Item"]
    assert (item["n"], item.get("plain")) == ({"N": "1"}, {"S": "kept"})


def test_moto_stream_seam_is_where_the_patch_expects_it():
    # moto's internal API: if this fails, moto moved what moto_streams.py patches.
    from moto.awslambda.models import LambdaBackend
    from moto.dynamodb.models.table import StreamShard

    assert list(inspect.signature(StreamShard.add).parameters) == ["self", "old", "new"]
    assert list(inspect.signature(LambdaBackend.send_dynamodb_items).parameters) == [
        "self",
        "function_arn",
        "items",
        "source",
    ]


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ({"a": {"S": ["x"]}}, {"a": {"S": "x"}}, True),
        ({"a": {"S": ["x"]}}, {"a": {"S": "y"}}, False),
        ({"a": {"S": [{"prefix": "IMPORT#"}]}}, {"a": {"S": "IMPORT#~latest"}}, True),
        ({"a": {"S": ["x"]}}, {"b": 1}, False),
    ],
)
def test_the_local_stream_filter_matches_like_a_lambda_filter(pattern, value, expected):
    from bulk_import_local.moto_streams import matches

    assert matches(pattern, value) is expected


@pytest.fixture
def streamed(local_stack, monkeypatch) -> list[str]:
    """The sort keys of the stream records the events function receives."""
    seen: list[str] = []
    events_function = local_stack.host.handler("ImportEventsFunction")
    module = local_stack.host.module("ImportEventsFunction")
    monkeypatch.setattr(
        module,
        "lambda_handler",
        lambda event, context: (
            seen.extend(r["dynamodb"]["Keys"]["SK"]["S"] for r in event["Records"]),
            events_function(event, context),
        )[1],
    )
    return seen


def test_the_events_function_sees_only_operation_changes_once_each(local_stack, streamed):
    seen = streamed
    table = local_stack.store.table_name
    client = boto3.client("dynamodb")
    client.put_item(TableName=table, Item={"PK": {"S": "STAGE#x#user#00000000"}, "SK": {"S": "0000000000"}})
    create_api_credential(local_stack.store, "streamcell", [ApiPermission.WRITE])  # cell + credential writes
    assert seen == []
    now = utc_now()
    local_stack.store.start_operation(
        ImportOperation(
            id=new_operation_id(),
            cell="streamcell",
            type="v1",
            importer_key="v1",
            started_at=now,
            updated_at=now,
            user="test",
        ),
        None,
    )
    assert seen == ["IMPORT#~latest"]


def test_moto_query_seam_is_where_the_patch_expects_it():
    # moto's internal API: if this fails, moto moved what moto_queries.py patches.
    from moto.dynamodb.models.table import Table

    parameters = inspect.signature(Table.query).parameters
    assert list(parameters)[:2] == ["self", "hash_key"] and "index_name" in parameters
    assert list(inspect.signature(Table.all_items).parameters) == ["self"]


def test_a_local_query_reads_its_partition_in_order_and_an_index_query_still_sees_every_item(local_stack):
    client = boto3.client("dynamodb")
    table = local_stack.store.table_name
    for n in (3, 1, 2):
        client.put_item(TableName=table, Item={"PK": {"S": "q-part"}, "SK": {"S": f"{n}"}})
    client.put_item(TableName=table, Item={"PK": {"S": "q-other"}, "SK": {"S": "1"}})
    found = client.query(
        TableName=table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": "q-part"}}
    )["Items"]
    assert [item["SK"]["S"] for item in found] == ["1", "2", "3"]
    client.put_item(
        TableName=table,
        Item={"PK": {"S": "q-failed"}, "SK": {"S": "1"}, "failedOf": {"S": "q-op"}, "failedKey": {"S": "0#1"}},
    )
    by_index = client.query(
        TableName=table,
        IndexName="FailedRecords",
        KeyConditionExpression="failedOf = :op",
        ExpressionAttributeValues={":op": {"S": "q-op"}},
    )["Items"]
    assert [item["PK"]["S"] for item in by_index] == ["q-failed"]


def test_a_failed_transaction_streams_nothing_and_a_committed_one_streams_its_change(local_stack, streamed):
    now = utc_now()
    operation = ImportOperation(
        id=new_operation_id(),
        cell="txstream",
        type="v1",
        importer_key="v1",
        started_at=now,
        updated_at=now,
        user="test",
    )
    local_stack.store.start_operation(operation, None)
    streamed.clear()
    client, table = boto3.client("dynamodb"), local_stack.store.table_name
    count_update = {
        "Update": {
            "TableName": table,
            "Key": {"PK": {"S": "CELL#txstream"}, "SK": {"S": "IMPORT#~latest"}},
            "UpdateExpression": "SET updatedAt = :now",
            "ExpressionAttributeValues": {":now": {"S": utc_now().isoformat()}},
        }
    }
    failing = {
        "Put": {
            "TableName": table,
            "Item": {"PK": {"S": "tx-none"}, "SK": {"S": "x"}},
            "ConditionExpression": "attribute_exists(PK)",
        }
    }
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[count_update, failing])
    assert streamed == []
    client.transact_write_items(TransactItems=[count_update])
    assert streamed == ["IMPORT#~latest"]


def test_moto_stepfunctions_seams_are_where_the_patches_expect_them():
    # moto's internal API: if this fails, moto moved what moto_stepfunctions.py patches. The sources
    # are read from moto's files: the local stack's patches may be installed while this runs.
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.common import parargs, result_selector
    from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state import state
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import job
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker,
        map_run_record,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator import (
        distributed_iterator_worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer import result_writer_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
        state_task_service_lambda,
    )
    from moto.stepfunctions.parser.asl.eval import environment

    def source(module) -> str:
        return inspect.getsource(module)

    for module, owner in (
        (state, "CommonStateField"),
        (parargs, "Parargs"),
        (result_selector, "ResultSelector"),
        (result_path, "ResultPath"),
        (error_equals_decl, "ErrorEqualsDecl"),
        (result_writer_decl, "ResultWriter"),
    ):
        assert f"class {owner}(" in source(module) and "def _eval_body(self, env: Environment) -> None:" in source(
            module
        ), owner
    assert "self._eval_state_output(env=env)" in source(state) and "self._set_next(env)" in source(state)
    assert "error_name: ErrorName = env.stack.pop()" in source(error_equals_decl)
    assert "self.result_path_src is None" in source(result_path)
    assert "self.parargs.eval(env=env)\n        self.resource_eval.eval_resource(env=env)" in source(result_writer_decl)
    for module in (distributed_item_processor_worker, distributed_iterator_worker):
        assert "def _eval_job(self, env: Environment, job: Job) -> None:" in source(module)
        assert "self._map_run_record.item_counter.failed.count()" in source(module)
        assert "isinstance(job.job_output, Exception)" in source(module)
    assert "self._jobs_number = len(job_inputs)" in source(job)
    assert all(
        f"self.{name} = " in source(map_run_record)
        for name in ("tolerated_failure_count", "tolerated_failure_percentage", "item_counter")
    )
    for module in (state, state_task_lambda, state_task_service):
        assert "from moto.stepfunctions.parser.quotas import is_within_size_quota" in source(module)
    assert "from threading import Thread" in source(execute_state)
    assert "Thread(target=_exec_and_notify" in source(execute_state)
    assert "import time" in source(retrier_decl) and "time.sleep(interval_seconds)" in source(retrier_decl)
    assert "def set_error(self, error: ExecutionFailedEventDetails) -> None:" in source(environment)
    assert "self._state_mutex = threading.RLock()" in source(environment)
    # What moto already does like AWS, and the tests rely on: an Invoke API error names the task's error.
    error = ClientError(
        {
            "Error": {"Code": "ServiceException", "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": 500, "RequestId": "r"},
        },
        "Invoke",
    )
    assert state_task_service_lambda.StateTaskServiceLambda._error_cause_from_client_error(error)[0] == (
        "Lambda.ServiceException"
    )


def test_moto_delivers_stream_records_without_request_headers():
    # functions_host applies Lambda service faults only to Invoke API calls, told apart by their headers.
    from moto.awslambda import models

    assert "func.invoke(json.dumps(event), {}, {})" in inspect.getsource(models)


def test_moto_stepfunctions_keeping_seams_are_where_the_patches_expect_them():
    # moto's internal API: what moto_stepfunctions.py replaces to keep less (children's history, frames).
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import distributed_iteration_component
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator import (
        distributed_iterator_worker,
    )
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    assert "env.event_manager = EventManager()" in inspect.getsource(distributed_iteration_component)
    assert "def _publish_history_event(" in inspect.getsource(event_manager)
    for module, opens in (
        (distributed_item_processor_worker, "worker_frame.open_inner_frame()"),
        (distributed_iterator_worker, "worker_frame.open_frame()"),
    ):
        source = inspect.getsource(module)
        assert f"job_frame = {opens}" in source and "self._eval_pool(job=next_job, worker_frame=worker_frame)" in source


def test_moto_footprint_seams_are_where_the_patches_expect_them():
    # moto's internal API: what moto_footprint.py patches to keep less.
    from botocore import session
    from moto import backends
    from moto.core import common_models
    from moto.dynamodb.models import dynamo_type, table
    from moto.moto_server import werkzeug_app

    assert "cls.instances_tracked.append(instance)" in inspect.getsource(common_models)
    assert "if host in backends.list_of_moto_modules():" in inspect.getsource(werkzeug_app)
    assert callable(backends.list_of_moto_modules) and "create_loader(self.get_config_variable" in inspect.getsource(
        session
    )
    item = inspect.getsource(dynamo_type.Item)
    for method in ("def __init__(", "def to_json(", "def describe_attrs(", "def size(", "def __deepcopy__("):
        assert method in item, method
    assert "self.attrs = LimitedSizeDict()" in item
    assert "self.items = defaultdict(dict)" in inspect.getsource(table)
    assert "from moto.batch.utils import JobStatus" in inspect.getsource(
        __import__(
            "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch",
            fromlist=["x"],
        )
    )


def test_the_local_stack_loads_no_ec2_and_tracks_no_model_instances(local_stack):
    import sys

    from moto.dynamodb.models.dynamo_type import Item

    assert "moto.ec2" not in sys.modules  # (moto.batch is a bare package: moto_footprint.py)
    client = boto3.client("dynamodb")
    client.put_item(TableName=local_stack.store.table_name, Item={"PK": {"S": "tracked"}, "SK": {"S": "x"}})
    assert Item.instances_tracked == []


def _moto_item(table: str, pk: str, sk: str):
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    from bulk_import_local.sam_template import ACCOUNT, REGION

    return dynamodb_backends[ACCOUNT][REGION].get_table(table).get_item(DynamoType({"S": pk}), DynamoType({"S": sk}))


def test_a_packed_item_reads_back_as_written_and_unpacks_when_updated(local_stack):
    client, table = boto3.client("dynamodb"), local_stack.store.table_name
    item = {
        "PK": {"S": "packed"},
        "SK": {"S": "1"},
        "n": {"N": "1.50"},
        "s": {"SS": ["a", "b"]},
        "none": {"NULL": True},
        "m": {"M": {"l": {"L": [{"S": "é"}, {"BOOL": False}, {"M": {}}]}, "ns": {"NS": ["1", "2"]}}},
    }
    client.put_item(TableName=table, Item=item)
    stored = _moto_item(table, "packed", "1")
    assert is_packed(stored)  # (moto_footprint.py)
    key = {"PK": {"S": "packed"}, "SK": {"S": "1"}}
    assert client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == item
    assert client.batch_get_item(RequestItems={table: {"Keys": [key]}})["Responses"][table] == [item]
    found = client.query(
        TableName=table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": "packed"}}
    )["Items"]
    assert found == [item] and is_packed(stored)  # reading it did not unpack it
    projected = client.get_item(TableName=table, Key=key, ProjectionExpression="n, m.l")["Item"]
    assert projected == {"n": item["n"], "m": {"M": {"l": item["m"]["M"]["l"]}}}
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(PK)")
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET n = n + :one, m.l[1] = :t",
        ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"BOOL": True}},
    )
    updated = client.get_item(TableName=table, Key=key)["Item"]
    assert Decimal(updated["n"]["N"]) == Decimal("2.5") and updated["m"]["M"]["l"]["L"][1] == {"BOOL": True}
    assert not is_packed(_moto_item(table, "packed", "1"))  # an update unpacked it for good
    assert updated == client.get_item(TableName=table, Key=key)["Item"]


def test_packed_items_share_their_sort_key_strings(local_stack):
    client, table = boto3.client("dynamodb"), local_stack.store.table_name
    for pk in ("shared-1", "shared-2"):
        client.put_item(TableName=table, Item={"PK": {"S": pk}, "SK": {"S": "MESSAGE"}, "n": {"N": "1"}})
    first, second = _moto_item(table, "shared-1", "MESSAGE"), _moto_item(table, "shared-2", "MESSAGE")
    assert is_packed(first) and first.range_key.value is second.range_key.value


def test_a_partition_of_one_item_is_compact_and_one_of_several_behaves_as_moto_s(local_stack):
    from moto.dynamodb.models import dynamodb_backends

    from bulk_import_local.sam_template import ACCOUNT, REGION

    client, table = boto3.client("dynamodb"), local_stack.store.table_name
    partitions = dynamodb_backends[ACCOUNT][REGION].get_table(table).items

    def sort_keys(pk: str) -> list[str]:
        found = client.query(
            TableName=table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
        )["Items"]
        return [item["SK"]["S"] for item in found]

    for pk, sk in (("several", "2"), ("several", "1"), ("several", "3"), ("one", "1")):
        client.put_item(TableName=table, Item={"PK": {"S": pk}, "SK": {"S": sk}})
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": {"PK": {"S": "one"}, "SK": {"S": "1"}, "n": {"N": "2"}}}}]
    )
    assert sort_keys("several") == ["1", "2", "3"] and sort_keys("one") == ["1"]
    assert next(p for k, p in partitions.items() if k.value == "one").is_compact()
    assert not next(p for k, p in partitions.items() if k.value == "several").is_compact()
    client.delete_item(TableName=table, Key={"PK": {"S": "several"}, "SK": {"S": "2"}})
    client.delete_item(TableName=table, Key={"PK": {"S": "one"}, "SK": {"S": "1"}})
    assert sort_keys("several") == ["1", "3"] and sort_keys("one") == []
    assert "Item" not in client.get_item(TableName=table, Key={"PK": {"S": "one"}, "SK": {"S": "1"}})
    client.put_item(TableName=table, Item={"PK": {"S": "one"}, "SK": {"S": "0"}})
    assert sort_keys("one") == ["0"]


def test_s3_bodies_over_64_kib_are_kept_in_temporary_files(local_stack):
    from moto.s3.models import s3_backends

    from bulk_import_local.sam_template import ACCOUNT

    client, bucket = boto3.client("s3"), local_stack.host.environment()["IMPORT_BUCKET"]
    large, small = b"x" * (64 * 1024 + 1), b"y" * 1024
    client.put_object(Bucket=bucket, Key="footprint/large", Body=large)
    client.put_object(Bucket=bucket, Key="footprint/small", Body=small)
    keys = s3_backends[ACCOUNT]["aws"].buckets[bucket].keys
    assert keys["footprint/large"]._value_buffer._rolled and not keys["footprint/small"]._value_buffer._rolled
    assert client.get_object(Bucket=bucket, Key="footprint/large")["Body"].read() == large


def test_binary_items_are_not_packed_and_read_back_as_written(local_stack):
    client, table = boto3.client("dynamodb"), local_stack.store.table_name
    item = {"PK": {"S": "binary"}, "SK": {"S": "1"}, "b": {"B": b"\x00\xff"}, "m": {"M": {"b": {"B": b"x"}}}}
    client.put_item(TableName=table, Item=item)
    assert not is_packed(_moto_item(table, "binary", "1"))
    assert client.get_item(TableName=table, Key={"PK": {"S": "binary"}, "SK": {"S": "1"}})["Item"] == item


def test_an_index_query_sees_only_items_with_the_index_keys_and_unpacks_no_other(local_stack):
    client, table = boto3.client("dynamodb"), local_stack.store.table_name
    client.put_item(TableName=table, Item={"PK": {"S": "ix-out"}, "SK": {"S": "1"}, "failedOf": {"S": "ix-op"}})
    client.put_item(
        TableName=table,
        Item={"PK": {"S": "ix-in"}, "SK": {"S": "1"}, "failedOf": {"S": "ix-op"}, "failedKey": {"S": "0#1"}},
    )
    found = client.query(
        TableName=table,
        IndexName="FailedRecords",
        KeyConditionExpression="failedOf = :op",
        ExpressionAttributeValues={":op": {"S": "ix-op"}},
    )["Items"]
    assert [item["PK"]["S"] for item in found] == ["ix-in"]
    assert is_packed(_moto_item(table, "ix-out", "1"))


def test_the_call_log_keeps_the_latest_calls_indexed_as_a_list():
    from bulk_import_local.call_log import CallLog

    log, seen = CallLog(keep=3), []
    unsubscribe = log.subscribe(seen.append)
    for call in range(5):
        log.append(call)
    assert len(log) == 5 and list(log) == [2, 3, 4] and log[2:] == [2, 3, 4] and log[-1] == 4 and log[4] == 4
    with pytest.raises(IndexError):
        log[1:]
    unsubscribe()
    log.append(5)
    assert seen == [0, 1, 2, 3, 4] and log[5:] == [5]
