"""Runs the template's Lambda handlers in this process, and lets moto's Lambda call them as AWS Lambda would.

Each invocation runs in an execution environment of its function (execution_environments.py): an
idle one, or a new one, up to the function's concurrency (its ReservedConcurrentExecutions, else
DEFAULT_CONCURRENCY); no two invocations share one while they run, so that module state is each
invocation's own, as on Lambda.

Docker does not run here, so instead of moto starting a container per invocation, its
`LambdaFunction.invoke` is replaced by a dispatcher that calls the handler in-process. That is
moto's internal API (moto is pinned in pyproject.toml); tests/local/test_local_stack.py fails
loudly if the seam moves.

The dispatcher answers as the Lambda service does, so that a state machine's Retry and Catch see
the error names they would see on AWS (`X-Amz-Function-Error: Unhandled` and a payload
`{"errorType", "errorMessage"}`, which Step Functions turns into the task's error name):

- the handler raises an exception: errorType is the exception's class name;
- the handler raises `SimulatedCrash` (sdk_boundary.py: the process died): `Runtime.ExitError`,
  "RequestId: ... Error: Runtime exited with error: signal: killed";
- the handler raises `SimulatedTimeout`, or returns after its function's Timeout (from the
  template; `host.timeouts`): `Sandbox.Timedout`, "RequestId: ... Error: Task timed out after N.00
  seconds" (what it wrote before stays written, as on AWS);
- the result is not JSON: `Runtime.MarshalError`.

`host.faults` lets a test make the Lambda *service* or runtime fail around a handler, and deliver
an invocation twice (Lambda and Step Functions deliver at least once):

    with stack.host.faults.service_error("ImportBatchFunction", "TooManyRequestsException") as fault:
        ...  # the next Invoke API call of that function fails with it: the task error is
             # Lambda.TooManyRequestsException, and the handler did not run
    stack.host.faults.service_error(after_handler=True)  # the handler ran, the caller got
                                                        # Lambda.ServiceException: a retry runs it again
    stack.host.faults.timeout("ImportBatchFunction")     # ran, then Sandbox.Timedout
    stack.host.faults.crash("ImportBatchFunction", times=None)  # Runtime.ExitError every time
    stack.host.faults.deliver_twice("ImportBatchFunction", concurrently=True)
    stack.host.faults.clear()

Service faults only apply to Invoke API calls (Step Functions tasks, `aws lambda invoke`), not to
moto's own deliveries (DynamoDB streams); API Gateway requests call `FunctionsHost.invoke`
directly and see none of this. `host.invocations` lists the latest deliveries (function, request
id, error, whether its answer was delivered, whether the handler ran), to count attempts;
`host.running()` counts the handler calls in progress; `host.execution_environments(function)` lists a
function's environments.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import JsonRESTError

from bulk_import_local.execution_environments import DEFAULT_CONCURRENCY, EnvironmentPool, ExecutionEnvironment
from bulk_import_local.sam_template import Function
from bulk_import_local.sdk_boundary import SimulatedCrash, current_function

#: A function's Timeout when the template does not give one (Lambda's own default is 3 s; the
#: local stack passes the template's values).
DEFAULT_TIMEOUT_SECONDS = 900.0
#: HTTP status of the Lambda Invoke API's errors a test may inject (others answer 500).
SERVICE_ERROR_STATUS = {
    "TooManyRequestsException": 429,
    "ResourceNotReadyException": 502,
    "EC2ThrottledException": 502,
    "ENILimitReachedException": 502,
}
#: errorType values of the Lambda runtime itself (not exception classes).
EXIT_ERROR, TIMEOUT_ERROR, MARSHAL_ERROR = "Runtime.ExitError", "Sandbox.Timedout", "Runtime.MarshalError"


class SimulatedTimeout(SimulatedCrash):
    """The function ran out of time at this point: Lambda stopped it and reports Sandbox.Timedout."""


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 900_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (time.monotonic() - self.started) * 1000))


@dataclass
class Fault:
    """A planned failure of the Lambda service or runtime around a handler (see LambdaFaults)."""

    function: str | None  # logical id; None: every function
    error: str  # an Invoke API error code (service) or a runtime errorType
    service: bool  # the Invoke API call fails, instead of the function reporting an error
    after_handler: bool  # the handler runs first (and writes what it writes)
    times: int | None = 1  # how many invocations it fails; None: all of them
    match: Callable[[Any], bool] | None = None  # only invocations whose event this accepts
    fired: int = 0  # how many it failed so far
    _owner: LambdaFaults | None = field(default=None, repr=False)

    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, *_: object) -> None:
        if self._owner is not None:
            self._owner.remove(self)


@dataclass
class Invocation:
    """One delivery of an invocation to a handler, as recorded by the host (newest last)."""

    function: str  # logical id
    request_id: str
    error: str | None  # the errorType or Invoke API error the caller got, None if it succeeded
    delivered: bool = True  # False for the extra delivery of deliver_twice, whose answer nobody got
    handler_ran: bool = True


class LambdaFaults:
    """What can go wrong in the Lambda service and runtime, switched on by tests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._twice: dict[str | None, bool] = {}  # logical id (None: all) -> concurrently

    def service_error(
        self,
        function: str | None = None,
        error: str = "ServiceException",
        *,
        after_handler: bool = False,
        times: int | None = 1,
        match: Callable[[Any], bool] | None = None,
    ) -> Fault:
        """The Invoke API call fails with `error` (ServiceException: HTTP 500, TooManyRequestsException:
        429, ...), so a Step Functions task fails with `Lambda.<error>`. With after_handler the handler
        has run (at-least-once: a Retry runs it again)."""
        return self._add(Fault(function, error, service=True, after_handler=after_handler, times=times, match=match))

    def timeout(
        self,
        function: str | None = None,
        *,
        after_handler: bool = True,
        times: int | None = 1,
        match: Callable[[Any], bool] | None = None,
    ) -> Fault:
        """The function reports Sandbox.Timedout: after running the handler (it did its work, then ran
        out of time before answering), or instead of it (after_handler=False). To time out in the
        middle, raise SimulatedTimeout from the handler's code."""
        return self._add(
            Fault(function, TIMEOUT_ERROR, service=False, after_handler=after_handler, times=times, match=match)
        )

    def crash(
        self,
        function: str | None = None,
        *,
        after_handler: bool = False,
        times: int | None = 1,
        match: Callable[[Any], bool] | None = None,
    ) -> Fault:
        """The function reports Runtime.ExitError (the process died), before or after the handler ran.
        To crash in the middle, raise SimulatedCrash from the handler's code (sdk_boundary.py)."""
        return self._add(
            Fault(function, EXIT_ERROR, service=False, after_handler=after_handler, times=times, match=match)
        )

    def deliver_twice(self, function: str | None = None, *, concurrently: bool = False) -> None:
        """At-least-once delivery: every invocation of `function` (None: of every function) runs the
        handler twice, one after the other or at the same time in two threads; the caller gets the
        second delivery's answer, the first one's is thrown away."""
        with self._lock:
            self._twice[function] = concurrently

    def deliver_once(self, function: str | None = None) -> None:
        with self._lock:
            self._twice.pop(function, None)

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._twice.clear()

    def _add(self, fault: Fault) -> Fault:
        fault._owner = self
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, function: str, event: Any, *, after_handler: bool, api_call: bool) -> Fault | None:
        """The fault this invocation meets at this point, counted as fired, if any."""
        with self._lock:
            for fault in self._faults:
                if (
                    fault.active()
                    and fault.after_handler == after_handler
                    and fault.function in (None, function)
                    and (api_call or not fault.service)
                    and (fault.match is None or fault.match(event))
                ):
                    fault.fired += 1
                    return fault
        return None

    def twice(self, function: str) -> bool | None:
        """None: deliver once; else whether the two deliveries run concurrently."""
        with self._lock:
            return self._twice.get(function, self._twice.get(None))


class FunctionsHost:
    """The template's functions, each run in execution environments of its own (every function's
    module is `app`)."""

    def __init__(
        self,
        functions: dict[str, Function],
        timeouts: dict[str, float] | None = None,
        concurrency: dict[str, int] | None = None,
    ) -> None:
        self.functions = functions
        #: Each function's Timeout in seconds (logical id -> seconds); tests may lower one.
        self.timeouts: dict[str, float] = dict(timeouts or {})
        self.faults = LambdaFaults()
        #: The latest deliveries through the Lambda seam, for tests to count attempts.
        self.invocations: deque[Invocation] = deque(maxlen=10_000)
        #: Each function's environments, at most its concurrency (logical id -> count) at once.
        self._environments = {
            logical_id: EnvironmentPool(function, (concurrency or {}).get(logical_id, DEFAULT_CONCURRENCY))
            for logical_id, function in functions.items()
        }
        self._running = 0
        self._running_lock = threading.Lock()

    def environment(self) -> dict[str, str]:
        """Every function's variables together: in one process, module-level configuration is
        shared, so this refuses a template where two functions disagree on a variable."""
        merged: dict[str, str] = {}
        for function in self.functions.values():
            for name, value in function.environment.items():
                if merged.setdefault(name, value) != value:
                    raise ValueError(f"{name} differs between functions; they cannot share one process")
        return merged

    def module(self, logical_id: str) -> ModuleType:
        """The function's handler module in its primary environment, on the process's own modules:
        what a test sets on it reaches every environment of the function from its next invocation."""
        return self._environments[logical_id].primary().module

    def handler(self, logical_id: str) -> Callable:
        return self._environments[logical_id].primary().handler()

    def execution_environments(self, logical_id: str) -> list[ExecutionEnvironment]:
        """The function's environments, the primary first."""
        return self._environments[logical_id].environments()

    def discard_environments(self) -> None:
        """Ends every environment: the next invocation of each function is a cold start again."""
        for environments in self._environments.values():
            environments.discard()

    def context(self, logical_id: str) -> LambdaContext:
        function = self.functions[logical_id]
        timeout = self.timeouts.get(logical_id, DEFAULT_TIMEOUT_SECONDS)
        return LambdaContext(
            function_name=function.name, invoked_function_arn=function.arn, timeout_ms=int(timeout * 1000)
        )

    def invoke(self, logical_id: str, event: Any, context: LambdaContext | None = None) -> Any:
        """Calls the handler in an environment of the function (waiting for one at its concurrency),
        with sdk_boundary.current_function set to it, from the environment's start on (as its init
        phase on Lambda, its output is the function's); exceptions (and SimulatedCrash) propagate."""
        token = current_function.set(logical_id)
        try:
            with self._environments[logical_id].take() as environment:
                with self._running_lock:
                    self._running += 1
                try:
                    return environment.handler()(event, context or self.context(logical_id))
                finally:
                    with self._running_lock:
                        self._running -= 1
        finally:
            current_function.reset(token)

    def running(self) -> int:
        """How many handler calls are in progress (API requests, Lambda invocations, deliveries)."""
        with self._running_lock:
            return self._running

    def by_name(self, function_name: str) -> str:
        for logical_id, function in self.functions.items():
            if function.name == function_name or function.arn == function_name:
                return logical_id
        raise KeyError(function_name)

    # -- as the Lambda service answers ------------------------------------------------------------

    def lambda_invoke(
        self, logical_id: str, event: Any, response_headers: dict[str, Any], *, api_call: bool = True
    ) -> bytes:
        """What Lambda answers an invocation: the result's JSON, or an error payload with
        `x-amz-function-error` set in response_headers; raises ServiceError for a failed Invoke call."""
        fault = self.faults.take(logical_id, event, after_handler=False, api_call=api_call)
        if fault is not None:
            return self._fail(logical_id, fault, response_headers, handler_ran=False)
        concurrently = self.faults.twice(logical_id)
        if concurrently is None:
            error, payload, context = self._deliver(logical_id, event)
        elif concurrently:
            first = _Delivery(self, logical_id, event, contextvars.copy_context())
            first.start()
            error, payload, context = self._deliver(logical_id, event)
            first.join()
            if first.outcome is not None:
                self._record(logical_id, first.outcome[2], first.outcome[0], delivered=False)
        else:
            first_error, _, first_context = self._deliver(logical_id, event)
            self._record(logical_id, first_context, first_error, delivered=False)
            error, payload, context = self._deliver(logical_id, event)
        fault = self.faults.take(logical_id, event, after_handler=True, api_call=api_call)
        if fault is not None:
            return self._fail(logical_id, fault, response_headers, handler_ran=True, context=context)
        self._record(logical_id, context, error)
        if error is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    def _deliver(self, logical_id: str, event: Any) -> tuple[str | None, bytes, LambdaContext]:
        """Runs the handler once as the Lambda runtime would: (errorType or None, payload, context)."""
        context = self.context(logical_id)
        try:
            result = self.invoke(logical_id, event, context)
        except SimulatedTimeout:
            return TIMEOUT_ERROR, _runtime_error(TIMEOUT_ERROR, context), context
        except SimulatedCrash:
            return EXIT_ERROR, _runtime_error(EXIT_ERROR, context), context
        except Exception as exc:  # what the Lambda runtime reports for an unhandled exception
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_exception(exc),
            }
            return type(exc).__name__, json.dumps(error).encode(), context
        if context.get_remaining_time_in_millis() <= 0:  # it would have been stopped at its Timeout
            return TIMEOUT_ERROR, _runtime_error(TIMEOUT_ERROR, context), context
        try:
            return None, json.dumps(result).encode(), context
        except (TypeError, ValueError) as exc:
            error = {
                "errorType": MARSHAL_ERROR,
                "errorMessage": f"Unable to marshal response: {exc}",
                "requestId": context.aws_request_id,
                "stackTrace": [],
            }
            return MARSHAL_ERROR, json.dumps(error).encode(), context

    def _fail(
        self,
        logical_id: str,
        fault: Fault,
        response_headers: dict[str, Any],
        *,
        handler_ran: bool,
        context: LambdaContext | None = None,
    ) -> bytes:
        context = context or self.context(logical_id)
        self._record(logical_id, context, fault.error, handler_ran=handler_ran)
        if fault.service:
            raise ServiceError(fault.error, f"Injected {fault.error} for {self.functions[logical_id].name}")
        response_headers["x-amz-function-error"] = "Unhandled"
        return _runtime_error(fault.error, context)

    def _record(
        self,
        logical_id: str,
        context: LambdaContext,
        error: str | None,
        *,
        delivered: bool = True,
        handler_ran: bool = True,
    ) -> None:
        self.invocations.append(Invocation(logical_id, context.aws_request_id, error, delivered, handler_ran))


class ServiceError(JsonRESTError):
    """An error of the Lambda Invoke API itself (moto answers it as the HTTP error response)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(error, message)
        self.code = SERVICE_ERROR_STATUS.get(error, 500)


class _Delivery(threading.Thread):
    """The extra delivery of deliver_twice(concurrently=True), in the caller's context."""

    def __init__(self, host: FunctionsHost, logical_id: str, event: Any, context: contextvars.Context) -> None:
        super().__init__(daemon=True)
        self.host, self.logical_id, self.event, self.run_context = host, logical_id, event, context
        self.outcome: tuple[str | None, bytes, LambdaContext] | None = None

    def run(self) -> None:
        self.outcome = self.run_context.run(self.host._deliver, self.logical_id, self.event)


def _runtime_error(error_type: str, context: LambdaContext) -> bytes:
    """The payload Lambda returns when the runtime, not the handler, failed."""
    reason = (
        f"Task timed out after {context.timeout_ms / 1000:.2f} seconds"
        if error_type == TIMEOUT_ERROR
        else "Runtime exited with error: signal: killed"
    )
    return json.dumps(
        {"errorType": error_type, "errorMessage": f"RequestId: {context.aws_request_id} Error: {reason}"}
    ).encode()


def install_lambda_seam(host: FunctionsHost) -> Callable[[], None]:
    """Makes moto's Lambda invoke call the template's handlers in-process; returns the undo."""
    original = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        # moto's own deliveries (streams, queues) pass no request headers; Invoke API calls do.
        return host.lambda_invoke(
            host.by_name(self.function_name), event, response_headers, api_call=bool(request_headers)
        )

    LambdaFunction.invoke = invoke

    def undo() -> None:
        LambdaFunction.invoke = original

    return undo
