"""Runs the template's Lambda handlers in this process, and lets moto's Lambda call them.

Docker does not run here, so instead of moto starting a container per invocation, its
`LambdaFunction.invoke` is replaced by a dispatcher that calls the handler in-process. That is
moto's internal API (moto is pinned in pyproject.toml); tests/local/test_local_stack.py fails
loudly if the seam moves.
"""

from __future__ import annotations

import importlib.util
import json
import traceback
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

from moto.awslambda.models import LambdaFunction

from bulk_import_cli.sam_template import Function


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


class FunctionsHost:
    """The template's functions, loaded once each under a module name of their own (every
    function's module is `app`)."""

    def __init__(self, functions: dict[str, Function]) -> None:
        self.functions = functions
        self._modules: dict[str, ModuleType] = {}

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
        if logical_id not in self._modules:
            function = self.functions[logical_id]
            path = function.code_dir / f"{function.module}.py"
            spec = importlib.util.spec_from_file_location(f"functions.{logical_id}.{function.module}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._modules[logical_id] = module
        return self._modules[logical_id]

    def handler(self, logical_id: str) -> Callable:
        return getattr(self.module(logical_id), self.functions[logical_id].attribute)

    def invoke(self, logical_id: str, event: Any) -> Any:
        function = self.functions[logical_id]
        context = LambdaContext(function_name=function.name, invoked_function_arn=function.arn)
        return self.handler(logical_id)(event, context)

    def by_name(self, function_name: str) -> str:
        for logical_id, function in self.functions.items():
            if function.name == function_name:
                return logical_id
        raise KeyError(function_name)


def install_lambda_seam(host: FunctionsHost) -> Callable[[], None]:
    """Makes moto's Lambda invoke call the template's handlers in-process; returns the undo."""
    original = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        try:
            result = host.invoke(host.by_name(self.function_name), event)
        except Exception as exc:  # what the Lambda runtime reports for an unhandled exception
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                     "stackTrace": traceback.format_exception(exc)}
            return json.dumps(error).encode()
        return json.dumps(result).encode()

    LambdaFunction.invoke = invoke

    def undo() -> None:
        LambdaFunction.invoke = original

    return undo
