"""Makes moto's Step Functions interpreter as strict as AWS where the worker depends on it.

moto runs the ASL with a port of LocalStack's interpreter (moto/stepfunctions/parser), which is
kinder than AWS in ways that hide bugs a deployed worker would hit (checked on moto 5.2.5, see
tests/local/test_strict_stepfunctions.py):

- **Payload quota.** AWS fails an execution with `States.DataLimitExceeded` when a state's input
  (also after Parameters), a task's or a Map's result, or a state's output is over 262,144 bytes of
  UTF-8 JSON, and `States.ALL` does not catch that error. moto checks only outputs and task
  results (with `< 262,144` of ASCII-escaped, space-separated JSON), never a Map's array of child
  results, and lets `States.ALL` catch it. Here every state's input, Parameters, result and output
  is checked (compact UTF-8 JSON, at most 262,144 bytes), and the largest of each is recorded by
  state name: `payload_sizes()` shows whether a state's payload grows with the number of items.
  `States.ALL` no longer matches `States.DataLimitExceeded` nor `States.Runtime`, as on AWS.
- **Distributed Map failures.** moto's DISTRIBUTED Map swallows a failed child execution (its
  result is `null`) and the Map succeeds. On AWS a failed (or timed out) child counts against the
  tolerated failure threshold (0 unless ToleratedFailureCount/Percentage say otherwise); once it
  is exceeded the Map Run stops and the Map state fails with `States.ExceedToleratedFailureThreshold`,
  never with the child's own error name. Here it does the same.
- **Retry waits.** moto sleeps each Retry's IntervalSeconds (with BackoffRate and jitter) for
  real; here the sleep is multiplied by $BULK_IMPORT_RETRY_SCALE (default 1.0, read at each
  retry), so fault tests that rely on Retry run fast.
- **A stop racing a failure.** When StopExecution lands while a state fails, moto skips the
  state's Catch (every evaluation is skipped once the execution is stopped), treats the error as
  uncaught and then records it over the stop: the execution ends FAILED with the state's error.
  On AWS a stopped execution is ABORTED, as here. (With the Distributed Map failing as on AWS,
  the worker's cancel, which flags the operation and then stops the execution, hit this.)
- **A stop right after the start.** moto runs an execution in a thread that creates its
  environment when it begins; a StopExecution that lands before that fails inside moto
  (`'NoneType' object has no attribute 'set_stop'`, a 500 to the caller), where AWS stops the
  execution. And moto marks the execution ABORTED only when its thread next runs, so a
  DescribeExecution right after StopExecution may still say RUNNING; on AWS it says ABORTED.
  Here the stop waits for the environment and marks the execution ABORTED before it answers
  (`install_stop_after_start`, which the in-process tests install too).
- **ResultWriter paths.** moto evaluates a ResultWriter's `"Bucket.$"`/`"Prefix.$"` against the
  array of the children's results (so `$.manifest.bucket` is not found: States.Runtime); AWS
  evaluates them against the Map state's input, as here.

And two things the interpreter kept that nothing reads (moto_footprint.py says what the local
stack keeps):

- **A Distributed Map's children's history.** moto records every event of every child of a Map
  Run in one event list of the Map Run's own, which no API returns (the parent's history has the
  Map Run's events, not its children's) and which is dropped when the Map ends: at 100,000 users,
  10,000 events with their payloads at the end of the users Map. Here the children's events are not
  recorded (their ids still advance).
- **Every finished child's frame, and a recursion per child.** Each Map worker evaluated its next
  child by calling itself, so every child's environment stayed referenced until the worker had
  run out of children, and a worker could run at most ~1,000 children before Python's recursion
  limit (4 workers: ~200,000 users locally). Here a worker loops, and lets each child go when it
  is done.

What moto already does like AWS is left alone: a Lambda Invoke API error becomes the task error
`Lambda.<ErrorCode>` (StateTaskServiceLambda._error_cause_from_client_error); a DISTRIBUTED Map
with a ResultWriter returns `{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}` instead of
the children's results (moto writes only `<Prefix>/<map run id>/manifest.json`, with empty
ResultFiles, not AWS's SUCCEEDED_n.json / FAILED_n.json result files). Not patched either: moto's
parser rejects an integer ToleratedFailurePercentage (`50`; write `50.0`), which AWS accepts.

This is moto's internal API (moto is pinned in pyproject.toml); tests/local/test_local_stack.py
fails loudly if one of the patched places moves.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from moto.stepfunctions.parser.api import (
    ExecutionStatus,
    HistoryEventType,
    MapRunFailedEventDetails,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common import parargs
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.path.result_path import ResultPath
from moto.stepfunctions.parser.asl.component.common.result_selector import ResultSelector
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import distributed_iteration_component
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator import (
    distributed_iterator_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import ResultWriter
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramRunning, ProgramStopped
from moto.stepfunctions.parser.asl.utils.encoding import _DateTimeEncoder
from moto.stepfunctions.parser.backend import execution as execution_module

#: AWS's quota for a state's input, result or output, and an execution's input and output.
MAX_PAYLOAD_BYTES = 262_144
#: Multiplies every Retry wait of the interpreter (tests set it to e.g. 0.01).
RETRY_SCALE_VARIABLE = "BULK_IMPORT_RETRY_SCALE"
#: The cause AWS gives when a Distributed Map fails on its failed children.
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
#: Errors `States.ALL` does not catch on AWS ("terminal"); they can still be named explicitly.
TERMINAL_ERRORS = frozenset(
    {StatesErrorNameType.StatesStatesDataLimitExceeded.to_name(), StatesErrorNameType.StatesRuntime.to_name()}
)
#: What a size is recorded as: the state's input, its input after Parameters, its (task or Map)
#: result before ResultSelector/ResultPath, and its output.
KINDS = ("input", "parameters", "result", "output")

_DATA_LIMIT = StatesErrorNameType.StatesStatesDataLimitExceeded
_STATE_NAME: contextvars.ContextVar[str | None] = contextvars.ContextVar("state_name", default=None)
_SIZES: dict[str, dict[str, int]] = {}
_SIZES_LOCK = threading.Lock()


def payload_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON: how big a payload is for the quota."""
    return len(json.dumps(value, cls=_DateTimeEncoder, separators=(",", ":"), ensure_ascii=False).encode())


def payload_sizes() -> dict[str, int]:
    """{state name: the largest input, Parameters, result or output seen, in bytes} since the last
    reset_payload_sizes() (states of Map children are listed under their own names)."""
    with _SIZES_LOCK:
        return {name: max(sizes.values()) for name, sizes in _SIZES.items()}


def payload_size_details() -> dict[str, dict[str, int]]:
    """{state name: {kind: the largest size seen}}, kind being one of KINDS."""
    with _SIZES_LOCK:
        return {name: dict(sizes) for name, sizes in _SIZES.items()}


def reset_payload_sizes() -> None:
    with _SIZES_LOCK:
        _SIZES.clear()


def retry_scale() -> float:
    return float(os.environ.get(RETRY_SCALE_VARIABLE) or 1.0)


def _record(name: str | None, kind: str, size: int) -> None:
    if name is None:
        return
    with _SIZES_LOCK:
        sizes = _SIZES.setdefault(name, {})
        if size > sizes.get(kind, -1):
            sizes[kind] = size


def _check(env: Any, name: str | None, kind: str, value: Any) -> None:
    size = payload_size(value)
    _record(name, kind, size)
    if size <= MAX_PAYLOAD_BYTES:
        return
    what = {
        "input": "has an input",
        "parameters": "has an input after Parameters",
        "result": "returned a result",
        "output": "has an output",
    }[kind]
    cause = (
        f"The state/task '{name}' {what} with a size exceeding the maximum number of bytes service limit "
        f"({size} > {MAX_PAYLOAD_BYTES})."
    )
    raise FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=_DATA_LIMIT),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(error=_DATA_LIMIT.to_name(), cause=cause)
            ),
        )
    )


def _within_quota(value: Any) -> bool:
    """moto's own checks (task results, state outputs), measured as AWS's quota is."""
    if isinstance(value, str):
        return len(value.encode()) <= MAX_PAYLOAD_BYTES
    return payload_size(value) <= MAX_PAYLOAD_BYTES


class _ContextThread(threading.Thread):
    """The thread a state's work runs in (execute_state), in the context of the state that started it,
    so Parameters evaluated there are recorded under the state's name."""

    def __init__(self, *args: Any, target: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        context = contextvars.copy_context()
        super().__init__(*args, target=(lambda *a, **k: context.run(target, *a, **k)) if target else None, **kwargs)


def _threshold_exceeded(failed: int, total: int, count: int, percentage: float) -> bool:
    """AWS's rule: ToleratedFailureCount applies when set or when no percentage is set (default 0),
    ToleratedFailurePercentage when set. moto evaluates both to 0 when absent, so an explicit count
    of 0 next to a percentage reads as no count."""
    count_applies = count > 0 or not percentage
    return (count_applies and failed > count) or (bool(percentage) and failed * 100 > percentage * total)


class _ChildEvents(EventManager):
    """The events of a Map Run's children: numbered, not kept (no API reads them)."""

    def _publish_history_event(self, *args: Any, **kwargs: Any) -> None:
        return None


def _looping_pool(open_job_frame: str) -> Callable[..., None]:
    """A Map worker's `_eval_pool` (moto's, step for step) as a loop instead of a recursion per
    child, so that each child's frame is let go once it is done."""

    def _eval_pool(self: Any, job: Any, worker_frame: Environment) -> None:
        if job is None:
            self._env.delete_frame(worker_frame)
            return
        while True:
            job_frame = getattr(worker_frame, open_job_frame)()
            self._eval_job(env=job_frame, job=job)
            worker_frame.delete_frame(job_frame)
            del job_frame
            # Evaluation terminates here due to an exception in the job, or the worker was stopped.
            if isinstance(job.job_output, Exception) or self.stopped():
                break
            next_job = self._job_pool.next_job()
            if next_job is None:
                break
            self._job_pool.close_job(job)
            job = next_job
        self._env.delete_frame(worker_frame)
        self._job_pool.close_job(job)

    return _eval_pool


def install_stop_after_start() -> Callable[[], None]:
    """A StopExecution waits (up to 10 s) for the execution's thread to have begun, and the
    execution is ABORTED when the call returns, as on AWS; returns the undo."""
    original = execution_module.Execution.stop

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        deadline = time.monotonic() + 10
        while (self.exec_worker is None or self.exec_worker.env is None) and time.monotonic() < deadline:
            time.sleep(0.001)
        original(self, stop_date=stop_date, error=error, cause=cause)
        worker = self.exec_worker
        if worker is not None and worker.env is not None and isinstance(worker.env.program_state(), ProgramStopped):
            # moto records ABORTED only when its thread next looks; AWS answers StopExecution after it.
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date

    execution_module.Execution.stop = stop

    def undo() -> None:
        execution_module.Execution.stop = original

    return undo


def install() -> Callable[[], None]:
    """Patches moto's Step Functions interpreter in this process; returns the undo."""
    originals: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        originals.append((owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)))
        setattr(owner, name, value)

    state_eval_body = state_module.CommonStateField._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        token = _STATE_NAME.set(self.name)
        try:
            _check(env, self.name, "input", env.states.get_input())
            state_eval_body(self, env)
            if isinstance(env.program_state(), (ProgramRunning, ProgramEnded)):
                _check(env, self.name, "output", env.states.get_input())
        finally:
            _STATE_NAME.reset(token)

    def checking_top_of_stack(original: Callable[..., None], kind: str, before: bool) -> Callable[..., None]:
        def _eval_body(self: Any, env: Any) -> None:
            if before and env.stack:
                _check(env, _STATE_NAME.get(), kind, env.stack[-1])
            original(self, env)
            if not before and env.stack:
                _check(env, _STATE_NAME.get(), kind, env.stack[-1])

        return _eval_body

    error_equals = ErrorEqualsDecl._eval_body
    states_all = StatesErrorName(typ=StatesErrorNameType.StatesALL)

    def error_equals_eval(self: ErrorEqualsDecl, env: Any) -> None:
        error_name = env.stack[-1]
        if (
            isinstance(error_name, StatesErrorName)
            and error_name.error_name in TERMINAL_ERRORS
            and states_all in self.error_names
        ):
            env.stack.pop()
            env.stack.append(error_name in [name for name in self.error_names if name != states_all])
            return
        error_equals(self, env)

    def counting_failures(original: Callable[..., None]) -> Callable[..., None]:
        def _eval_job(self: Any, env: Any, job: Any) -> None:
            original(self, env, job)
            record = self._map_run_record
            failed = record.item_counter.failed.get() + record.item_counter.timed_out.get()
            if failed and _threshold_exceeded(
                failed, self._job_pool._jobs_number, record.tolerated_failure_count, record.tolerated_failure_percentage
            ):
                name = StatesErrorNameType.StatesExceedToleratedFailureThreshold
                job.job_output = FailureEventException(
                    failure_event=FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=name),
                        event_type=HistoryEventType.MapRunFailed,
                        event_details=EventDetails(
                            mapRunFailedEventDetails=MapRunFailedEventDetails(
                                error=name.to_name(), cause=THRESHOLD_CAUSE
                            )
                        ),
                    )
                )

        return _eval_job

    set_error = Environment.set_error

    def set_error_unless_stopped(self: Environment, error: Any) -> None:
        with self._state_mutex:  # an RLock, which moto's set_error takes again
            if not isinstance(self._program_state, ProgramStopped):
                set_error(self, error)

    def result_writer_eval(self: ResultWriter, env: Any) -> None:
        # The stack holds [..., the Map's effective input, the children's results]; the resource
        # wants [..., results, parameters], the parameters read from the Map's input.
        results = env.stack.pop()
        env.stack.append(env.stack[-1] if env.stack else env.states.get_input())
        self.parargs.eval(env=env)
        parameters = env.stack.pop()
        env.stack.pop()
        env.stack.extend([results, parameters])
        self.resource_eval.eval_resource(env=env)

    def scaled_sleep(seconds: float) -> None:
        time.sleep(seconds * retry_scale())

    patch(state_module.CommonStateField, "_eval_body", _eval_body)
    patch(parargs.Parargs, "_eval_body", checking_top_of_stack(parargs.Parargs._eval_body, "parameters", before=False))
    patch(ResultSelector, "_eval_body", checking_top_of_stack(ResultSelector._eval_body, "result", before=True))
    patch(ResultPath, "_eval_body", checking_top_of_stack(ResultPath._eval_body, "result", before=True))
    for module in (state_module, state_task_lambda, state_task_service):
        patch(module, "is_within_size_quota", _within_quota)
    patch(execute_state, "Thread", _ContextThread)
    patch(ErrorEqualsDecl, "_eval_body", error_equals_eval)
    for worker in (
        distributed_item_processor_worker.DistributedItemProcessorWorker,
        distributed_iterator_worker.DistributedIteratorWorker,
    ):
        patch(worker, "_eval_job", counting_failures(worker._eval_job))
    patch(Environment, "set_error", set_error_unless_stopped)
    patch(distributed_iteration_component, "EventManager", _ChildEvents)
    patch(
        distributed_item_processor_worker.DistributedItemProcessorWorker,
        "_eval_pool",
        _looping_pool("open_inner_frame"),
    )
    patch(distributed_iterator_worker.DistributedIteratorWorker, "_eval_pool", _looping_pool("open_frame"))
    patch(ResultWriter, "_eval_body", result_writer_eval)
    patch(retrier_decl, "time", SimpleNamespace(sleep=scaled_sleep))

    undo_stop = install_stop_after_start()

    def undo() -> None:
        undo_stop()
        for owner, name, value in reversed(originals):
            setattr(owner, name, value)

    return undo
