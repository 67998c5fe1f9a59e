"""AWS as it really is, at the SDK boundary every AWS call of the handlers passes.

moto is kinder than AWS. `SdkBoundary.install()` wraps botocore's `BaseClient._make_api_call`, the one
method every operation of every boto3 client goes through (clients created before the install too),
and `Endpoint._do_get_response`, which makes one HTTP attempt of a call. While installed it:

* refuses, before sending, what AWS refuses and moto accepts (`strict`, below);
* injects `Fault`s: the Lambda process dying just before or just after a call (`SimulatedCrash`), or
  AWS answering with an error (`mode="error"`, shaped by botocore's own parser from the HTTP error
  response AWS sends, so `error.response` is what it is on AWS, `CancellationReasons` included);
* records every call in `calls` (the template function making it, service, operation, whether it
  writes, its parameters shortened) and every injected fault in `fired`;
* with `index_lag`, hides newly written items from global secondary indexes for a while;
* with `policies` (iam_policies.py), refuses a call the calling function's policy in template.yaml
  does not allow, as AWS does (AccessDenied; moto checks no IAM), and answers a GetObject or
  HeadObject of a missing key with 403 rather than 404 to a function that may not list the bucket.

Retries. botocore retries (throttling, 5xx) *inside* `_make_api_call`, per HTTP attempt, on its
`needs-retry` event. An error a fault raises from the `_make_api_call` wrapper is therefore never
retried by botocore: the code under test gets it at once, as it gets an error botocore gave up on. A
fault with `via_http=True` instead answers HTTP attempts: botocore parses the error response, its retry
policy decides, and `occurrence`/`times` count attempts, so `times=2` on a ThrottlingException is two
throttled attempts and a third that lands, as on AWS. It replaces `Endpoint._do_get_response` rather
than answering botocore's `before-send` event because botocore runs every `before-send` handler:
in-process moto's answers too, so the write would land behind the injected error.

Throttling. A fault of operation "*" matches every operation of its service: `Fault("dynamodb", "*",
code="ThrottlingException", via_http=True, times=10**6)` throttles the whole table for as long as it
is armed, and `fired` counts the requests sent meanwhile. A fault with `unprocessed` answers a
BatchWriteItem or BatchGetItem as DynamoDB does under throttling: the requests or keys it picks come
back unprocessed (UnprocessedItems, UnprocessedKeys) and the others land; when it picks them all, the
whole request is refused with the fault's error, as DynamoDB refuses a request it can process none of.

Strict mode, checked against moto 5.2.5 (tests/unit/test_sdk_boundary.py's test_moto_already_* keep
this honest).
moto already refuses: more than 100 actions in TransactWriteItems; more than 25 in TransactGetItems
(AWS allows 100: moto is stricter, and stays so); more than 100 keys in BatchGetItem; NaN, Infinity
and non-numbers as a top-level number of PutItem and BatchWriteItem. It already answers a BatchGetItem
over 16 MB with the rest in UnprocessedKeys, and refuses items over 400 KB, counted its own way: no
List/Map overhead, numbers as long as their text, and 405,000 bytes where AWS allows 409,600, so it
refuses some items AWS accepts (nothing at this boundary can make it accept them). This module adds:

* DynamoDB item size counted as AWS documents it (attribute names and values, 3 bytes per List or Map
  and 1 per element, numbers ~1 byte per 2 significant digits + 1), at most 409,600 bytes, for the
  items PutItem, a transaction's Put and a BatchWriteItem PutRequest write. Not for updates: the
  resulting item needs the stored one (moto checks an updated item its own way);
* nesting: an item is at most 32 levels deep (31 Lists/Maps around a value), for those items and for
  the ExpressionAttributeValues of UpdateItem (as eu-west-2 does; not for a transaction's Update,
  where AWS cancels the transaction with a ValidationError reason instead);
* every number anywhere in a DynamoDB request: finite, at most 38 significant digits, magnitude from
  1E-130 to below 1E+126 (moto misses NaN in sets, lists and updates);
* at most 25 requests in a BatchWriteItem, at most 25 statements in a BatchExecuteStatement; an
  INSERT of it (partiql.py) whose item is too large or too deep fails alone, with a ValidationError,
  as DynamoDB answers each statement of a batch;
* a Step Functions StartExecution input of at most 262,144 bytes (256 KiB, UTF-8);
* a Lambda Invoke (RequestResponse) payload of at most 6,291,456 bytes (6 MB).

The checks read parameters as the low-level client takes them (attribute values such as
`{"S": "x"}`, the form this project uses): a boto3 resource (`Table`) converts its Python values inside
`_make_api_call`, after the wrapper, so its requests are not checked and index lag doesn't see them.

Index lag models "newly written items not yet visible" in a global secondary index: a Query or Scan
of one leaves out every item whose last write through the boundary is less than `index_lag` seconds
old. It does not model stale versions (AWS would show an updated item's old version, or a deleted
item, for a while; here the updated item is missing and the deleted one gone), pages come back shorter
than their Limit, and a `Select="COUNT"` query counts every item. Local secondary indexes allow
consistent reads and are left alone.

`current_function` is a context variable: threads see it only when started with a copy of the
context (bulk_import.concurrency does; while installed, the boundary makes boto3's S3 transfer
threads do it too); the calls of moto's own interpreter and of test code have function None.
"""

from __future__ import annotations

import contextvars
import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from io import BytesIO
from typing import Any, Literal
from xml.sax.saxutils import escape

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.endpoint import Endpoint, convert_to_response_dict
from botocore.exceptions import ClientError
from botocore.model import OperationModel
from botocore.parsers import create_parser
from s3transfer.futures import BoundedExecutor

from bulk_import_local.iam_policies import FunctionPolicy, requests_of
from bulk_import_local.partiql import inserted_items, parsed_insert

#: The template function (logical id) whose handler this code runs for, set by the functions host
#: for the duration of one invocation (its execution environment's start included); threads started
#: through bulk_import.concurrency (an environment's own copy of it too) inherit it.
current_function: ContextVar[str | None] = ContextVar("current_function", default=None)


class SimulatedCrash(BaseException):
    """The Lambda process died at this point (out of memory, killed, timed out): nothing after it
    runs, and Lambda reports Runtime.ExitError. A BaseException, so no `except Exception` in the
    code under test can swallow it."""


MAX_ITEM_SIZE = 400 * 1024
MAX_NESTING_LEVELS = 32
MAX_BATCH_WRITE_REQUESTS = 25
MAX_BATCH_STATEMENTS = 25
MAX_EXECUTION_INPUT = 256 * 1024
MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024
#: A fault's operation that matches every operation of its service.
ANY_OPERATION = "*"
#: The operations DynamoDB may answer in part under throttling, and the field of what it left unprocessed.
_UNPROCESSED_OF = {"BatchWriteItem": "UnprocessedItems", "BatchGetItem": "UnprocessedKeys"}

#: Operations whose name says they only read. Every other operation counts as a write, so that a
#: write operation this list doesn't know is listed among the writes rather than missed.
_READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "TransactGet", "Head")

#: The messages AWS sends with the errors tests inject most.
_AWS_MESSAGES = {
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
    "ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the table was "
    "exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    "TransactionConflictException": "Transaction is ongoing for the item",
    "InternalServerError": "Internal server error",
    "SlowDown": "Please reduce your request rate.",
}
#: HTTP status of the errors that don't answer 400.
_HTTP_STATUS = {
    "InternalServerError": 500,
    "ServiceException": 500,
    "ServiceUnavailable": 503,
    "SlowDown": 503,
    "RequestTooLargeException": 413,
    "TooManyRequestsException": 429,
    "AccessDenied": 403,
    "AccessDeniedException": 403,
    "403": 403,
}


def is_write(operation: str) -> bool:
    return not operation.startswith(_READ_PREFIXES)


@dataclass(frozen=True)
class Call:
    """One AWS call made while the boundary was installed."""

    function: str | None  # `current_function` when the call was made
    service: str  # botocore's service name: "dynamodb", "s3", "stepfunctions", ...
    operation: str  # botocore's operation name: "TransactWriteItems", ...
    is_write: bool
    params: dict[str, Any]  # as passed, with long strings, binaries and lists shortened
    error: str | None = None  # the error code the caller got, or "SimulatedCrash"; None if it succeeded


@dataclass(frozen=True)
class Fault:
    """Injected into the `occurrence`-th call (counting from 1) that matches, and the `times - 1`
    matching calls after it. A call matches when its service and operation are these, it is made
    for `function` (the value of `current_function`; None: any), and `when(params)` holds (if given).

    mode: "crash-before" raises SimulatedCrash instead of sending (the call never lands);
    "crash-after" sends the call, then raises SimulatedCrash; "error" answers with the AWS error
    `code` (and `message`, by default AWS's own) instead of sending. A TransactionCanceledException
    carries a TransactionConflict reason for every action. With `via_http`, an "error" answers HTTP
    attempts instead of calls (see the module docstring: botocore retries it as it would on AWS).
    With `statements`, an "error" of a BatchExecuteStatement answers the statements for which it
    holds, as DynamoDB answers a statement it refused (`code` is then a BatchStatementError code:
    "ThrottlingError", "TransactionConflict", ...); the other statements are sent and land. With
    `unprocessed`, an "error" of a BatchWriteItem or BatchGetItem leaves unprocessed the requests (or
    keys) for which it holds; all of them: the request fails with `code`. `operation` "*" matches
    every operation of the service."""

    service: str
    operation: str
    mode: Literal["crash-before", "crash-after", "error"] = "error"
    code: str | None = None
    message: str | None = None
    function: str | None = None
    when: Callable[[dict[str, Any]], bool] | None = None
    occurrence: int = 1
    times: int = 1
    via_http: bool = False
    statements: Callable[[dict[str, Any]], bool] | None = None
    unprocessed: Callable[[dict[str, Any]], bool] | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("crash-before", "crash-after", "error"):
            raise ValueError(f"unknown fault mode {self.mode!r}")
        if (self.mode == "error") != (self.code is not None):
            raise ValueError("an error fault needs its error code, and only an error fault has one")
        if self.via_http and self.mode != "error":
            raise ValueError("only an error can answer an HTTP attempt: a crash is the process's, not AWS's")
        if self.occurrence < 1 or self.times < 1:
            raise ValueError("occurrence and times count from 1")
        if self.statements is not None and (
            self.mode != "error"
            or self.via_http
            or (self.service, self.operation) != ("dynamodb", "BatchExecuteStatement")
        ):
            raise ValueError("only an error of a BatchExecuteStatement answers its statements")
        if self.unprocessed is not None and (
            self.mode != "error" or self.via_http or self.operation not in _UNPROCESSED_OF or self.service != "dynamodb"
        ):
            raise ValueError("only an error of a BatchWriteItem or BatchGetItem leaves requests unprocessed")

    def matches(self, service: str, operation: str, function: str | None, params: dict[str, Any]) -> bool:
        return (
            service == self.service
            and self.operation in (ANY_OPERATION, operation)
            and self.function in (None, function)
            and (self.when is None or self.when(params))
        )


@dataclass
class _ArmedFault:
    fault: Fault
    matched: int = 0  # matching calls (or, via HTTP, attempts) seen so far


class _Refused(Exception):
    """A limit AWS enforces: becomes the ClientError AWS answers with."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


#: botocore's service models, to check a fault against before it is armed.
_MODELS = botocore.session.get_session()

#: The parameters of the call in flight in this thread, for the faults that answer its HTTP attempts.
_call_params: ContextVar[dict[str, Any] | None] = ContextVar("call_params", default=None)

_MakeApiCall = Callable[[BaseClient, str, dict[str, Any]], Any]


class SdkBoundary:
    """See the module docstring. Install one boundary at a time (or undo in reverse order)."""

    def __init__(
        self,
        strict: bool = True,
        index_lag: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        policies: dict[str, FunctionPolicy] | None = None,
    ):
        self.strict = strict
        self.policies = policies or {}
        self.calls: list[Call] = []
        self.fired: list[Fault] = []
        self._faults: list[_ArmedFault] = []
        self._lock = threading.Lock()
        self._index_lag = _IndexLag(index_lag, clock) if index_lag > 0 else None

    def inject(self, fault: Fault) -> Fault:
        """Arms `fault` (after checking that its service has its operation: a misspelt fault would
        never fire); returns it."""
        service_model = _MODELS.get_service_model(fault.service)
        if fault.operation != ANY_OPERATION and fault.operation not in service_model.operation_names:
            raise ValueError(f"{fault.service} has no operation {fault.operation!r}")
        if fault.mode == "error" and service_model.resolved_protocol not in ("json", "rest-json", "rest-xml"):
            raise ValueError(f"errors of {fault.service} ({service_model.resolved_protocol}) are not covered")
        if fault.code == "TransactionCanceledException" and fault.operation not in (
            "TransactWriteItems",
            "TransactGetItems",
        ):
            raise ValueError("only a transaction is cancelled")
        with self._lock:
            self._faults.append(_ArmedFault(fault))
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def install(self) -> Callable[[], None]:
        """Wraps every boto3 client's calls in this process; returns the undo."""
        original_call, original_attempt = BaseClient._make_api_call, Endpoint._do_get_response

        @functools.wraps(original_call)
        def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            return self._call(client, original_call, operation, params)

        @functools.wraps(original_attempt)
        def do_get_response(endpoint: Endpoint, request: Any, operation_model: OperationModel, context: Any) -> Any:
            params = _call_params.get()
            fault = self._due_fault(
                operation_model.service_model.service_name, operation_model.name, params, via_http=True
            )
            if fault is None:
                return original_attempt(endpoint, request, operation_model, context)
            # (http response, parsed) and no exception, as botocore's own answer to an attempt AWS refused
            return _error_response(operation_model, *_fault_error(fault, params), url=request.url), None

        original_submit = BoundedExecutor.submit

        @functools.wraps(original_submit)
        def submit_in_context(executor: BoundedExecutor, task: Any, *args: Any, **kwargs: Any) -> Any:
            return original_submit(executor, _InContext(task, contextvars.copy_context()), *args, **kwargs)

        BaseClient._make_api_call, Endpoint._do_get_response = make_api_call, do_get_response
        BoundedExecutor.submit = submit_in_context

        def undo() -> None:
            if BaseClient._make_api_call is not make_api_call:
                raise RuntimeError("a boundary installed after this one is still installed: undo it first")
            BaseClient._make_api_call, Endpoint._do_get_response = original_call, original_attempt
            BoundedExecutor.submit = original_submit

        return undo

    def _call(self, client: BaseClient, send: _MakeApiCall, operation: str, params: dict[str, Any]) -> Any:
        service, function = client.meta.service_model.service_name, current_function.get()
        shortened, error = _shortened(params), None
        try:
            return self._answer(client, send, service, operation, params)
        except ClientError as client_error:
            error = client_error.response.get("Error", {}).get("Code")
            raise
        except SimulatedCrash:
            error = "SimulatedCrash"
            raise
        finally:
            with self._lock:
                self.calls.append(Call(function, service, operation, is_write(operation), shortened, error))

    def _answer(
        self, client: BaseClient, send: _MakeApiCall, service: str, operation: str, params: dict[str, Any]
    ) -> Any:
        fault = self._due_fault(service, operation, params, via_http=False)
        if fault is not None and fault.mode == "crash-before":
            raise SimulatedCrash(f"crashed before {operation}: {fault}")
        if fault is not None and fault.mode == "error" and fault.statements is None and fault.unprocessed is None:
            raise _client_error(client, operation, *_fault_error(fault, params))
        crash_after = fault is not None and fault.mode == "crash-after"
        policy = self.policies.get(current_function.get() or "")
        try:
            if self.strict:
                _check_limits(service, operation, params)
            if policy is not None:
                _check_allowed(policy, service, operation, params)
        except _Refused as refused:
            raise _client_error(client, operation, refused.code, refused.message, {}) from None
        try:
            if operation == "BatchExecuteStatement":
                response = _answer_statements(client, send, params, self._statement_errors(params, fault))
            elif fault is not None and fault.unprocessed is not None:
                response = _answer_in_part(client, send, operation, params, fault)
            else:
                response = _send(client, send, operation, params)
        except ClientError as error:
            if crash_after:  # the process dies whatever AWS answered
                raise SimulatedCrash(f"crashed after {operation} failed: {fault}") from error
            missing = error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404")
            if missing and policy is not None and policy.answers_missing_key_with_403():
                code = "403" if operation == "HeadObject" else "AccessDenied"
                raise _client_error(client, operation, code, "Access Denied", {}) from None
            raise
        if self._index_lag is not None and service == "dynamodb":
            self._index_lag.observe(client, send, operation, params, response)
        if crash_after:
            raise SimulatedCrash(f"crashed after {operation} landed: {fault}")
        return response

    def _statement_errors(self, params: dict[str, Any], fault: Fault | None) -> list[dict[str, str] | None]:
        """What DynamoDB answers each statement of a BatchExecuteStatement before running it: the
        error of a statement the fault picks, or (strict) of an INSERT AWS refuses; None for the others."""
        errors: list[dict[str, str] | None] = []
        for statement in params["Statements"]:
            error = None
            if fault is not None and fault.statements is not None and fault.statements(statement):
                assert fault.code is not None
                error = {"Code": fault.code, "Message": fault.message or f"{fault.code} (injected)"}
            elif self.strict and (insert := parsed_insert(statement)):
                try:
                    _check_item(insert[1])
                except _Refused as refused:
                    error = {"Code": "ValidationError", "Message": refused.message}
            errors.append(error)
        return errors

    def _due_fault(self, service: str, operation: str, params: dict[str, Any] | None, via_http: bool) -> Fault | None:
        """The fault to inject into this call (or HTTP attempt), counting it for every fault it
        matches; when two are due at once, the one injected first."""
        if params is None:  # an HTTP attempt of a call that was already in flight at the install
            return None
        function, due = current_function.get(), None
        with self._lock:
            for armed in self._faults:
                fault = armed.fault
                if fault.via_http != via_http or not fault.matches(service, operation, function, params):
                    continue
                armed.matched += 1
                if due is None and fault.occurrence <= armed.matched < fault.occurrence + fault.times:
                    due = fault
            if due is not None:
                self.fired.append(due)
        return due


class _InContext:
    """An S3 transfer task that runs in the context it was submitted from (its function's)."""

    def __init__(self, task: Any, context: contextvars.Context) -> None:
        self._task, self._context = task, context

    def __getattr__(self, name: str) -> Any:  # transfer_id and the like, read by the executor
        return getattr(self._task, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._context.run(self._task, *args, **kwargs)


def _send(client: BaseClient, send: _MakeApiCall, operation: str, params: dict[str, Any]) -> Any:
    token = _call_params.set(params)
    try:
        return send(client, operation, params)
    finally:
        _call_params.reset(token)


def _answer_statements(
    client: BaseClient, send: _MakeApiCall, params: dict[str, Any], errors: list[dict[str, str] | None]
) -> Any:
    """A BatchExecuteStatement whose statements with an error DynamoDB refused: the others sent."""
    if not any(errors):
        return _send(client, send, "BatchExecuteStatement", params)
    sent = [statement for statement, error in zip(params["Statements"], errors, strict=True) if error is None]
    response = _send(client, send, "BatchExecuteStatement", {**params, "Statements": sent}) if sent else {}
    answers = iter(response.get("Responses", []))
    return {**response, "Responses": [{"Error": error} if error else next(answers) for error in errors]}


def _answer_in_part(
    client: BaseClient, send: _MakeApiCall, operation: str, params: dict[str, Any], fault: Fault
) -> Any:
    """A BatchWriteItem or BatchGetItem DynamoDB processed in part: what `fault.unprocessed` picks
    (each request, or key, asked once) comes back unprocessed, the rest is sent; all of it picked:
    the request fails with the fault's error (DynamoDB refuses a request it can process none of)."""
    assert fault.unprocessed is not None
    sent: dict[str, Any] = {}
    left: dict[str, Any] = {}
    for table, request in params["RequestItems"].items():
        if operation == "BatchWriteItem":
            picked = [fault.unprocessed(item) for item in request]
            kept = [item for item, pick in zip(request, picked, strict=True) if not pick]
            rest = [item for item, pick in zip(request, picked, strict=True) if pick]
        else:
            picked = [fault.unprocessed(key) for key in request["Keys"]]
            kept = {**request, "Keys": [key for key, pick in zip(request["Keys"], picked, strict=True) if not pick]}
            rest = {**request, "Keys": [key for key, pick in zip(request["Keys"], picked, strict=True) if pick]}
        if any(not pick for pick in picked):
            sent[table] = kept
        if any(picked):
            left[table] = rest
    if not sent:
        raise _client_error(client, operation, *_fault_error(fault, params))
    response = _send(client, send, operation, {**params, "RequestItems": sent})
    return {**response, _UNPROCESSED_OF[operation]: left}


# --- Errors as AWS sends them and botocore presents them ---


class _RawBody(BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:  # what AWSResponse reads its content from
        yield self.getvalue()


def _fault_error(fault: Fault, params: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(code, message, the error's other fields) of an error fault."""
    assert fault.code is not None
    if fault.code != "TransactionCanceledException":
        return fault.code, fault.message or _AWS_MESSAGES.get(fault.code, f"{fault.code} (injected)"), {}
    actions = len(params["TransactItems"])
    reasons = [{"Code": "TransactionConflict", "Message": _AWS_MESSAGES["TransactionConflictException"]}] * actions
    message = (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(['TransactionConflict'] * actions)}]"
    )
    return fault.code, fault.message or message, {"CancellationReasons": reasons}


def _error_response(
    operation_model: OperationModel,
    code: str,
    message: str,
    fields: dict[str, Any],
    url: str = "https://sdk-boundary.invalid/",
) -> tuple[AWSResponse, dict[str, Any]]:
    """The HTTP response AWS answers `operation_model` with when it fails with `code`, and what
    botocore's parser makes of it (Error, ResponseMetadata and the error's modeled fields)."""
    service_model = operation_model.service_model
    protocol = service_model.resolved_protocol
    error_shape = service_model.shape_for_error_code(code)
    request_id = uuid.uuid4().hex
    if protocol == "rest-xml":  # S3
        headers = {"x-amz-request-id": request_id, "Content-Type": "application/xml"}
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
    else:  # json, rest-json (SdkBoundary.inject refuses the other protocols)
        # DynamoDB's TransactionCanceledException says "Message", most errors "message"
        message_key = "Message" if error_shape is not None and "Message" in error_shape.members else "message"
        headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code, "Content-Type": "application/json"}
        body = json.dumps({"__type": code, message_key: message, **fields}).encode()
    http_response = AWSResponse(url, _HTTP_STATUS.get(code, 400), headers, _RawBody(body))
    response_dict = convert_to_response_dict(http_response, operation_model)
    parser = create_parser(protocol)
    parsed = parser.parse(response_dict, operation_model.output_shape)
    if error_shape is not None:  # as botocore's Endpoint adds a modeled error's fields
        parsed.update(parser.parse(response_dict, error_shape))
    return http_response, parsed


def _client_error(client: BaseClient, operation: str, code: str, message: str, fields: dict[str, Any]) -> ClientError:
    """The exception botocore raises when AWS answers `operation` with this error and botocore doesn't retry."""
    _, parsed = _error_response(client.meta.service_model.operation_model(operation), code, message, fields)
    parsed["ResponseMetadata"]["RetryAttempts"] = 0
    return client.exceptions.from_code(code)(parsed, operation)


# --- IAM: what the calling function's policy allows ---


def _check_allowed(policy: FunctionPolicy, service: str, operation: str, params: dict[str, Any]) -> None:
    for request in requests_of(service, operation, params):
        if not policy.allows(request):
            code = "AccessDenied" if service == "s3" else "AccessDeniedException"
            key = f" (key {request.leading_key})" if request.leading_key else ""
            raise _Refused(
                code,
                f"{policy.function} is not authorized to perform {request.action} on "
                f"{request.resource}{key}: no statement of its policy in template.yaml allows it",
            )


# --- Strict mode: what AWS refuses and moto accepts ---


def _check_limits(service: str, operation: str, params: dict[str, Any]) -> None:
    if service == "dynamodb":
        _check_dynamodb(operation, params)
    elif (service, operation) == ("stepfunctions", "StartExecution"):
        size = len(params.get("input", "").encode())
        if size > MAX_EXECUTION_INPUT:
            raise _Refused(
                "InvalidExecutionInput",
                f"Input of {size} bytes exceeds the maximum number of bytes "
                f"service limit ({MAX_EXECUTION_INPUT} bytes)",
            )
    elif (service, operation) == ("lambda", "Invoke") and params.get(
        "InvocationType", "RequestResponse"
    ) == "RequestResponse":
        payload = params.get("Payload", b"")  # a file object is not measured
        if isinstance(payload, (bytes, bytearray, str)) and len(_raw(payload)) > MAX_INVOKE_PAYLOAD:
            raise _Refused(
                "RequestTooLargeException",
                f"Request must be smaller than {MAX_INVOKE_PAYLOAD} bytes for the InvokeFunction operation",
            )


def _check_dynamodb(operation: str, params: dict[str, Any]) -> None:
    for number in _numbers(params):
        _check_number(number)
    if operation == "BatchWriteItem":
        requests = params["RequestItems"].values()
        if any(len(table_requests) > MAX_BATCH_WRITE_REQUESTS for table_requests in requests):
            raise _Refused(
                "ValidationException",
                "1 validation error detected: Value at 'requestItems' failed "
                "to satisfy constraint: Map value must satisfy constraint: [Member must have length less "
                f"than or equal to {MAX_BATCH_WRITE_REQUESTS}, Member must have length greater than or "
                "equal to 1]",
            )
        if sum(map(len, requests)) > MAX_BATCH_WRITE_REQUESTS:
            raise _Refused("ValidationException", "Too many items requested for the BatchWriteItem call")
    if operation == "BatchExecuteStatement" and len(params["Statements"]) > MAX_BATCH_STATEMENTS:
        raise _Refused(
            "ValidationException",
            "1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must "
            f"have length less than or equal to {MAX_BATCH_STATEMENTS}",
        )
    for item in _items_put(operation, params):
        _check_item(item)
    if operation == "UpdateItem":
        _check_nesting(params.get("ExpressionAttributeValues", {}).values())


def _items_put(operation: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The whole items a request writes."""
    if operation == "PutItem":
        yield params["Item"]
    elif operation == "TransactWriteItems":
        yield from (action["Put"]["Item"] for action in params["TransactItems"] if "Put" in action)
    elif operation == "BatchWriteItem":
        yield from (
            request["PutRequest"]["Item"]
            for requests in params["RequestItems"].values()
            for request in requests
            if "PutRequest" in request
        )


def _numbers(value: Any) -> Iterator[str]:
    """Every number in a DynamoDB request. In the low-level form only an attribute value is a one-entry
    dict {"N": text} or {"NS": [text, ...]} (an attribute *named* N maps to a dict, not to text)."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("N"), str):
            yield value["N"]
        elif len(value) == 1 and isinstance(value.get("NS"), list):
            yield from value["NS"]
        else:
            for nested in value.values():
                yield from _numbers(nested)
    elif isinstance(value, list):
        for nested in value:
            yield from _numbers(nested)


def _check_number(text: str) -> None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise _Refused("ValidationException", f"The parameter cannot be converted to a numeric value: {text}")
    if number.is_zero():
        return
    if len(_significant_digits(number)) > 38:
        raise _Refused("ValidationException", "Attempting to store more than 38 significant digits in a Number")
    if number.adjusted() >= 126:
        raise _Refused(
            "ValidationException",
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        )
    if number.adjusted() < -130:
        raise _Refused(
            "ValidationException",
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        )


def _check_item(item: dict[str, Any]) -> None:
    _check_nesting(item.values())
    if item_size(item) > MAX_ITEM_SIZE:
        raise _Refused("ValidationException", "Item size has exceeded the maximum allowed size")


def _check_nesting(values: Any) -> None:
    # The item is level 1, each List or Map in it one more: AWS accepts 31 Maps around a value, not 32.
    if any(1 + _containers(value) > MAX_NESTING_LEVELS for value in values):
        raise _Refused(
            "ValidationException",
            "Nesting Levels have exceeded supported limits: Attributes in the item "
            "have nested levels beyond supported limit",
        )


def _containers(value: dict[str, Any]) -> int:
    """Lists and Maps on the deepest path into an attribute value."""
    ((kind, content),) = value.items()
    if kind == "M":
        return 1 + max(map(_containers, content.values()), default=0)
    if kind == "L":
        return 1 + max(map(_containers, content), default=0)
    return 0


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """The bytes DynamoDB counts for an item (low-level attribute values), as its developer guide
    ("DynamoDB item sizes and formats") documents them."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return len(_raw(content))
    if kind == "SS":
        return sum(len(text.encode()) for text in content)
    if kind == "NS":
        return sum(map(_number_size, content))
    if kind == "BS":
        return sum(len(_raw(binary)) for binary in content)
    if kind == "M":  # 3 bytes for the map, 1 for each element
        return 3 + sum(len(name.encode()) + _value_size(element) + 1 for name, element in content.items())
    if kind == "L":
        return 3 + sum(_value_size(element) + 1 for element in content)
    return 1  # NULL, BOOL


def _number_size(text: str) -> int:
    """About 1 byte per 2 significant digits, + 1."""
    significant_digits = max(len(_significant_digits(Decimal(text))), 1)
    return (significant_digits + 1) // 2 + 1


def _significant_digits(number: Decimal) -> str:
    # (not Decimal.normalize, which rounds to the context's 28 digits)
    return "".join(map(str, number.as_tuple().digits)).lstrip("0").rstrip("0")


def _canonical_number(text: str) -> str:
    """The same text for the same number ("1.50", "15E-1")."""
    number = Decimal(text)
    if number.is_zero():
        return "0"
    return f"{'-' if number.is_signed() else ''}{_significant_digits(number)}E{number.adjusted()}"


def _raw(binary: bytes | bytearray | str) -> bytes:
    return binary.encode() if isinstance(binary, str) else bytes(binary)


# --- Index lag ---


@dataclass(frozen=True)
class _TableKeys:
    names: tuple[str, ...]  # the table's partition (and sort) key attributes
    global_indexes: frozenset[str]


class _IndexLag:
    """When each item was last written through the boundary, to leave it out of the global secondary
    indexes' answers until `lag` seconds later."""

    def __init__(self, lag: float, clock: Callable[[], float]):
        self._lag, self._clock = lag, clock
        self._tables: dict[str, _TableKeys] = {}
        self._written_at: dict[tuple[str, tuple[Any, ...]], float] = {}
        self._lock = threading.Lock()

    def observe(
        self, client: BaseClient, send: _MakeApiCall, operation: str, params: dict[str, Any], response: dict[str, Any]
    ) -> None:
        """After a successful DynamoDB call: notes what it wrote, or hides from what it read through a
        global index the items written too recently."""
        if operation in ("Query", "Scan") and "IndexName" in params:
            keys = self._keys(client, send, params["TableName"])
            if params["IndexName"] in keys.global_indexes and "Items" in response:
                self._hide_recent(params["TableName"], keys, response)
            return
        if operation == "BatchExecuteStatement":  # a statement DynamoDB refused wrote nothing
            answers = zip(params["Statements"], response["Responses"], strict=True)
            params = {"Statements": [statement for statement, answer in answers if "Error" not in answer]}
        if operation == "BatchWriteItem" and response.get("UnprocessedItems"):  # nor did an unprocessed item
            unprocessed = response["UnprocessedItems"]
            params = {
                "RequestItems": {
                    table: [request for request in requests if request not in unprocessed.get(table, [])]
                    for table, requests in params["RequestItems"].items()
                }
            }
        now = self._clock()
        for table, attributes in _written(operation, params):
            key = _key(self._keys(client, send, table), attributes)
            with self._lock:
                self._written_at[table, key] = now

    def _hide_recent(self, table: str, keys: _TableKeys, response: dict[str, Any]) -> None:
        now = self._clock()
        with self._lock:
            visible = [
                item
                for item in response["Items"]
                if now - self._written_at.get((table, _key(keys, item)), -float("inf")) >= self._lag
            ]
        hidden = len(response["Items"]) - len(visible)
        response["Items"], response["Count"] = visible, len(visible)
        if "ScannedCount" in response:  # the hidden items are not in the index yet: not scanned either
            response["ScannedCount"] -= hidden

    def _keys(self, client: BaseClient, send: _MakeApiCall, table: str) -> _TableKeys:
        if table not in self._tables:  # (the boundary's own call: not recorded, not checked)
            # On a client of its own: the package's clients have only the operations it calls
            # (bulk_import.dal.aws_clients), DescribeTable not among them.
            describer = botocore.session.get_session().create_client(
                "dynamodb", region_name=client.meta.region_name, endpoint_url=client.meta.endpoint_url
            )
            description = _send(describer, send, "DescribeTable", {"TableName": table})["Table"]
            self._tables[table] = _TableKeys(
                tuple(element["AttributeName"] for element in description["KeySchema"]),
                frozenset(index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])),
            )
        return self._tables[table]


def _written(operation: str, params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, attributes holding the key) of each item a request writes."""
    if operation == "PutItem":
        yield params["TableName"], params["Item"]
    elif operation in ("UpdateItem", "DeleteItem"):
        yield params["TableName"], params["Key"]
    elif operation == "BatchWriteItem":
        for table, requests in params["RequestItems"].items():
            for request in requests:
                put = request.get("PutRequest")
                yield table, put["Item"] if put else request["DeleteRequest"]["Key"]
    elif operation == "BatchExecuteStatement":
        yield from inserted_items(params)
    elif operation == "TransactWriteItems":
        for action in params["TransactItems"]:
            if "Put" in action:
                yield action["Put"]["TableName"], action["Put"]["Item"]
            elif "Update" in action or "Delete" in action:
                write = action.get("Update") or action["Delete"]
                yield write["TableName"], write["Key"]


def _key(keys: _TableKeys, attributes: dict[str, Any]) -> tuple[Any, ...]:
    """The item's key, the same whether read from a request or a response."""
    parts = []
    for name in keys.names:
        ((kind, value),) = attributes[name].items()
        parts.append(_canonical_number(value) if kind == "N" else _raw(value) if kind == "B" else value)
    return tuple(parts)


# --- Recording ---

_SHORT_TEXT = 200
_SHORT_LIST = 100  # a transaction's or a batch's every action stays listed


def _shortened(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _shortened(nested) for name, nested in value.items()}
    if isinstance(value, (list, tuple)):
        shown = [_shortened(nested) for nested in value[:_SHORT_LIST]]
        return [*shown, f"... {len(value) - _SHORT_LIST} more"] if len(value) > _SHORT_LIST else shown
    if isinstance(value, str) and len(value) > _SHORT_TEXT:
        return f"{value[:_SHORT_TEXT]}... ({len(value)} characters)"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if hasattr(value, "read"):
        return "<stream>"
    return value
