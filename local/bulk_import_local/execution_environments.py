"""Lambda's execution environments in one process: an invocation takes an idle environment of its
function, or starts a new one (its cold start), and an environment runs one invocation at a time.

An environment is its own instance of the function's handler module and of the layer's packages
(`bulk_import`), so that what a handler or the layer keeps at module level (a router's
`current_event`, Powertools' Logger and the keys appended to it, the cached settings and clients)
belongs to one invocation at a time, as on Lambda. Two kinds:

- The primary environment runs the handler module that `FunctionsHost.module` gives on the
  process's own layer modules, the ones tests and the local stack import. Those modules serve one
  thread at a time: an invocation takes the primary when it is idle and no other thread's invocation
  (of any function) is using them. Invocations one after the other all run there, and see what a
  test patched on the layer's modules; so does an invocation that a test's patch makes from inside
  another, on the same thread (that one waits for it, so nothing runs at once): in another primary
  environment if its function's is the caller's.
- Copies, when a function is invoked while another thread uses the process's modules: a fresh
  instance of the handler module and of every layer module it imports, under names of their own in
  sys.modules (`bulk_import__NativeReadFunction_3.api.rest`; pydantic, dataclasses and typing look a
  class's module up there). Their code imports through `__builtins__` whose `__import__` answers
  layer names ("bulk_import.logic.imports") with the copy's modules: at load and at request time alike
  (the layer imports some modules inside functions). What a test sets on the host's handler module
  (`host.module(...)`) since it loaded also reaches the copies, from their next invocation; what it
  patches on the process's layer modules does not, and a copy's errors are its own classes.

A function runs at most `limit` invocations at once: its ReservedConcurrentExecutions in the
template, else DEFAULT_CONCURRENCY. An invocation beyond that waits for one to end, where Lambda would
throttle it (TooManyRequestsException): locally no test meets a throttle it did not ask for
(`host.faults.service_error` injects them); an invocation nested beyond it would wait forever. A
function has as many environments as its busiest moment took: its primary may sit idle while copies
run (an invocation never waits for the process's modules: their user may be waiting on it, as a
DynamoDB write waits on the stream's function).

While a copy loads, the Powertools Logger and Metrics its modules create get state of their own: a
Logger its own logging.Logger (logging.getLogger(service) is the process's, and its handler's
formatter holds the appended keys), Metrics its own metric, dimension and metadata sets (class
attributes, shared by every instance). Still shared, as one process has them once: third-party
modules (boto3, botocore, pydantic, Powertools) and their caches, os.environ, Powertools' cold start
flags (the `cold_start` of a log line is true on the process's first invocation only) and the
disabled Tracer's configuration, and `importlib.import_module`, which the layer does not call and
which would answer with the process's modules.

Powertools' event handler keeps the request it resolves on a class, `BaseRouter.current_event` (and
`lambda_context`): one per process, which on Lambda is one per invocation. Here invocations run at
once on threads of one process, so those two are kept per thread (`_router_state_per_thread`), and
an invocation nested in another on its thread gives them back when it ends.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import gc
import importlib.machinery
import importlib.util
import itertools
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any
from unittest import mock

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

from bulk_import_local.sam_template import Function

#: The packages of the template's layer (layers/bulk_import): every environment has its own.
LAYER_PACKAGES = frozenset({"bulk_import"})
#: The most invocations of a function at once when the template reserves it no concurrency.
DEFAULT_CONCURRENCY = 10
_ABSENT = object()

#: Environments load one at a time: loading swaps Powertools' state for a moment (_own_powertools_state).
_loading = threading.RLock()
#: Guards which environments are busy, and who uses the process's own modules (across every host
#: of the process: they are the process's).
_changes = threading.Condition()
_copy_numbers = itertools.count(1)
_every_copy: weakref.WeakSet[ModuleCopies] = weakref.WeakSet()
#: Compiled module sources, by path and modification time: a copy does not compile them again
#: (without .pyc files, PYTHONDONTWRITEBYTECODE, every load would).
_compiled: dict[tuple[str, int], CodeType] = {}


class _ProcessModules:
    """Who uses the process's own modules: one thread at a time, its invocations and those they make
    from the same thread (nested in them: the outer one waits for them); guarded by _changes."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.invocations = 0

    def free_for(self, thread: int) -> bool:
        return self.thread in (None, thread)

    def lend(self, thread: int) -> None:
        self.thread, self.invocations = thread, self.invocations + 1

    def give_back(self) -> None:
        self.invocations -= 1
        if not self.invocations:
            self.thread = None


_process_modules = _ProcessModules()


@dataclass(eq=False)
class ExecutionEnvironment:
    """One execution environment of a function."""

    function: Function
    #: Its instance of the handler module.
    module: ModuleType
    #: Its own copies of the layer's modules; None on the process's modules (the primary, and those
    #: made for invocations nested in one using them).
    copies: ModuleCopies | None
    #: The invocations it has started: its cold start was the first.
    invocations: int = 0
    busy: bool = False
    #: Its handler module's namespace as loaded, and the names it took from the primary's since.
    loaded: dict[str, Any] = field(default_factory=dict, repr=False)
    followed: set[str] = field(default_factory=set, repr=False)

    def handler(self) -> Callable[[Any, Any], Any]:
        return getattr(self.module, self.function.attribute)

    def follow(self, primary: ExecutionEnvironment) -> None:
        """Takes what was set on the primary's handler module since it loaded (a test's fake handler);
        a name no longer set there gets back the value this environment loaded."""
        current = primary.module.__dict__
        changed = {
            name
            for name in current.keys() | primary.loaded.keys()
            if current.get(name, _ABSENT) is not primary.loaded.get(name, _ABSENT)
        }
        for name in changed | self.followed:
            value = current.get(name, _ABSENT) if name in changed else self.loaded.get(name, _ABSENT)
            if value is _ABSENT:
                self.module.__dict__.pop(name, None)
            else:
                self.module.__dict__[name] = value
        self.followed = changed


class EnvironmentPool:
    """A function's execution environments, the primary first, running at most `limit` invocations at
    once."""

    def __init__(self, function: Function, limit: int) -> None:
        if limit < 1:  # Lambda would throttle every invocation: nothing would run
            raise ValueError(f"{function.logical_id}: a concurrency of {limit} runs nothing")
        self.function, self.limit = function, limit
        self._primary: ExecutionEnvironment | None = None
        self._environments: list[ExecutionEnvironment] = []
        self._starting = 0  # environments being loaded for an invocation

    def primary(self) -> ExecutionEnvironment:
        """The primary environment, its handler module loaded on the process's modules if not yet."""
        primary = self._primary
        if primary is None:
            with _loading:
                if self._primary is None:
                    environment = _process_environment(self.function)
                    with _changes:
                        self._primary = environment
                        self._environments.insert(0, environment)
                primary = self._primary
        return primary

    def environments(self) -> list[ExecutionEnvironment]:
        with _changes:
            return list(self._environments)

    @contextlib.contextmanager
    def take(self) -> Iterator[ExecutionEnvironment]:
        """An environment for one invocation, busy until the block ends, once fewer than `limit` are
        busy: an idle one on the process's modules, the primary first, if they are free for this
        thread, else an idle copy; else a new one of that kind."""
        primary = self.primary()
        environment = self._acquire()
        try:
            if environment is not primary:
                environment.follow(primary)
            environment.invocations += 1
            with _router_state_of_one_invocation():
                yield environment
        finally:
            with _changes:
                environment.busy = False
                if environment.copies is None:
                    _process_modules.give_back()
                _changes.notify_all()

    def discard(self) -> None:
        """Forgets every environment (the next invocation is a cold start); those running finish."""
        with _changes:
            environments, self._environments, self._primary = self._environments, [], None
        for environment in environments:
            if environment.copies is not None:
                environment.copies.discard()

    def _acquire(self) -> ExecutionEnvironment:
        thread = threading.get_ident()
        with _changes:
            while self._starting + sum(environment.busy for environment in self._environments) >= self.limit:
                _changes.wait()
            on_process_modules = _process_modules.free_for(thread)
            if on_process_modules:
                _process_modules.lend(thread)
            for environment in self._environments:  # the primary first
                if not environment.busy and (environment.copies is None) == on_process_modules:
                    environment.busy = True
                    return environment
            self._starting += 1
        try:
            # On the process's modules, a new one only for an invocation nested in one using them.
            environment = (
                _process_environment(self.function) if on_process_modules else _copy_environment(self.function)
            )
        except BaseException:
            with _changes:
                self._starting -= 1
                if on_process_modules:
                    _process_modules.give_back()
                _changes.notify_all()  # its place is free again
            raise
        with _changes:
            self._starting -= 1
            environment.busy = True
            self._environments.append(environment)
        return environment


class ModuleCopies:
    """An environment's own instances of the layer's modules, loaded on their first import as Python
    loads modules, and the `__builtins__` of the environment's code, whose `__import__` finds them."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        #: Layer name ("bulk_import.api.rest") -> this environment's instance.
        self.modules: dict[str, ModuleType] = {}
        self.builtins: dict[str, Any] = {**builtins.__dict__, "__import__": self._import}
        self._lock = threading.RLock()  # the environment's own threads (bulk_import.concurrency) may import at once
        _every_copy.add(self)

    def counterpart(self, layer_object: Any) -> Any:
        """This environment's instance of a class or function of the process's layer modules; None
        before it imports that module."""
        module = self.modules.get(layer_object.__module__)
        return None if module is None else functools.reduce(getattr, layer_object.__qualname__.split("."), module)

    def discard(self) -> None:
        """Takes its modules out of sys.modules."""
        _every_copy.discard(self)
        for name in list(self.modules):
            sys.modules.pop(self._unique_name(name), None)

    def _unique_name(self, layer_name: str) -> str:
        package, dot, rest = layer_name.partition(".")
        return f"{package}__{self.tag}{dot}{rest}"

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> ModuleType:
        """builtins.__import__, answering the layer's names with this environment's modules."""
        if level:  # relative to the importing module's package: one of these, under its unique name
            absolute = importlib.util.resolve_name("." * level + name, (globals or {}).get("__package__"))
            package, dot, rest = absolute.partition(".")
            name, level = f"{package.removesuffix(f'__{self.tag}')}{dot}{rest}", 0
        if name.partition(".")[0] not in LAYER_PACKAGES:
            return builtins.__import__(name, globals, locals, fromlist, level)
        with self._lock:
            module = self._load(name)
            if not fromlist:  # `import bulk_import.x` binds the package
                return self.modules[name.partition(".")[0]]
            for item in fromlist:  # `from package import submodule` imports it
                if hasattr(module, "__path__") and not hasattr(module, item):
                    try:
                        self._load(f"{name}.{item}")
                    except ModuleNotFoundError as error:
                        if error.name != f"{name}.{item}":  # as Python: a missing name is not this error
                            raise
            return module

    def _load(self, name: str) -> ModuleType:
        if name in self.modules:
            return self.modules[name]
        package_name, _, last = name.rpartition(".")
        package = self._load(package_name) if package_name else None
        found = (
            importlib.util.find_spec(name)
            if package is None
            else importlib.machinery.PathFinder.find_spec(name, package.__path__)
        )
        if found is None or found.origin is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        spec = importlib.util.spec_from_file_location(
            self._unique_name(name), found.origin, submodule_search_locations=found.submodule_search_locations
        )
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        module.__builtins__ = self.builtins  # type: ignore[attr-defined]
        self.modules[name] = sys.modules[spec.name] = module  # before it runs, as Python: for cyclic imports
        try:
            _execute(module)
        except BaseException:
            del self.modules[name], sys.modules[spec.name]
            raise
        if package is not None:
            setattr(package, last, module)
        return module


def counterparts(layer_object: Any) -> list[Any]:
    """A class or function of the process's layer modules in every environment's copies that
    imported its module (local_stack.clear_cached_clients clears their caches too)."""
    with _loading:  # no copy is added meanwhile
        found = [copies.counterpart(layer_object) for copies in _every_copy]
    return [counterpart for counterpart in found if counterpart is not None]


def _process_environment(function: Function) -> ExecutionEnvironment:
    with _loading:
        module = _handler_module(function, builtins_of_module=None)
    return ExecutionEnvironment(function, module, None, loaded=dict(module.__dict__))


def _copy_environment(function: Function) -> ExecutionEnvironment:
    with _loading, _own_powertools_state():
        copies = ModuleCopies(f"{function.logical_id}_{next(_copy_numbers)}")
        try:
            module = _handler_module(function, copies.builtins)
        except BaseException:
            copies.discard()
            raise
    return ExecutionEnvironment(function, module, copies, loaded=dict(module.__dict__))


def _handler_module(function: Function, builtins_of_module: dict[str, Any] | None) -> ModuleType:
    """A new instance of the function's handler module, its imports made through `builtins_of_module`
    (None: Python's own)."""
    path = function.code_dir / f"{function.module}.py"
    spec = importlib.util.spec_from_file_location(f"functions.{function.logical_id}.{function.module}", path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    if builtins_of_module is not None:
        module.__builtins__ = builtins_of_module  # type: ignore[attr-defined]
    # An API handler module turns the cyclic collector off until its first answer (api/cold_start.py):
    # a Lambda process is that function's alone, this one hosts every function, the tests and moto.
    collecting = gc.isenabled()
    try:
        _execute(module)
    finally:
        if collecting:
            gc.enable()
    return module


def _execute(module: ModuleType) -> None:
    path = str(module.__file__)
    key = (path, os.stat(path).st_mtime_ns)
    if key not in _compiled:
        _compiled[key] = compile(Path(path).read_bytes(), path, "exec", dont_inherit=True)
    exec(_compiled[key], module.__dict__)


#: What Powertools' routers keep on their class, here per thread: the request being resolved.
_ROUTER_STATE = ("current_event", "lambda_context")
_router_state = threading.local()


def _router_state_per_thread() -> None:
    """Makes BaseRouter's class attributes of _ROUTER_STATE per thread: read and set on the class
    (through a metaclass of its own) or on a router, they are this thread's."""

    def per_thread(name: str) -> property:
        def get(_owner: Any) -> Any:
            try:
                return getattr(_router_state, name)
            except AttributeError:
                raise AttributeError(name) from None

        return property(get, lambda _owner, value: setattr(_router_state, name, value))

    class PerThreadRouterState(type(BaseRouter)):  # type: ignore[misc]
        pass

    for name in _ROUTER_STATE:
        setattr(PerThreadRouterState, name, per_thread(name))  # BaseRouter.current_event = ...
        type.__setattr__(BaseRouter, name, per_thread(name))  # self.current_event, on a router
    BaseRouter.__class__ = PerThreadRouterState


_router_state_per_thread()


@contextlib.contextmanager
def _router_state_of_one_invocation() -> Iterator[None]:
    """The thread's router state as it was before the block: an invocation nested in another on the
    same thread does not leave the outer one its request."""
    saved = dict(_router_state.__dict__)
    try:
        yield
    finally:
        _router_state.__dict__.clear()
        _router_state.__dict__.update(saved)


@contextlib.contextmanager
def _own_powertools_state() -> Iterator[None]:
    """Powertools Loggers and Metrics created in the block get state of their own (see the module's
    docstring); those of the same name share it, as they do in a process."""
    process_logger = Logger._get_logger
    own_loggers: dict[str, logging.Logger] = {}

    def own_logger(powertools_logger: Logger) -> logging.Logger:
        shared = process_logger(powertools_logger)
        if shared.name not in own_loggers:
            own = own_loggers[shared.name] = logging.Logger(shared.name)
            own.parent = shared.parent  # its records propagate where the process's would (pytest's caplog)
        return own_loggers[shared.name]

    with (
        mock.patch.object(Logger, "_get_logger", own_logger),
        mock.patch.multiple(Metrics, _metrics={}, _dimensions={}, _metadata={}, _default_dimensions={}),
    ):
        yield
