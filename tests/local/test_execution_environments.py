"""Functions run in execution environments, as on Lambda (bulk_import_local/execution_environments.py):
concurrent invocations of one function never share a handler module or the layer's modules."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from bulk_import.domain.credentials import ApiPermission
from bulk_import.domain.operation import Counts, ImportOperation, ProgressStep, new_operation_id, utc_now
from bulk_import.logic.admin import create_api_credential
from bulk_import_local.execution_environments import DEFAULT_CONCURRENCY, ExecutionEnvironment
from bulk_import_local.functions_host import FunctionsHost
from bulk_import_local.gateway import make_server
from bulk_import_local.local_stack import clear_cached_clients, function_concurrency, function_timeouts
from bulk_import_local.sam_template import Function, SamTemplate

CLIENTS, READS = 8, 40


@pytest.fixture(scope="module")
def cells(local_stack) -> dict[str, tuple[str, str]]:
    """Cell -> (its READ credential, the id of its one import)."""
    now, seeded = utc_now(), {}
    for n in range(CLIENTS):
        cell = f"environments{n}"
        operation = ImportOperation(
            id=new_operation_id(),
            cell=cell,
            type="v1",
            importer_key="v1",
            step=ProgressStep.DONE,
            started_at=now,
            updated_at=now,
            finished_at=now,
            user="environments",
            count=Counts(total=1, users=1, completed=1),
        )
        token = create_api_credential(local_stack.store, cell, [ApiPermission.READ]).token
        local_stack.store.start_operation(operation, None)
        seeded[cell] = (token, operation.id)
    return seeded


@pytest.fixture
def fresh_api(local_stack) -> Iterator[str]:
    """The template's routes served by a functions host of their own, against the stack's moto: no
    function has an environment yet, as on a stack just started."""
    template = local_stack.template
    host = FunctionsHost(template.functions(), function_timeouts(template))
    server = make_server(host, template.routes(), template.api_stage(), 0, template.binary_media_types())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    host.discard_environments()


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Threads take turns every microsecond rather than every 5 ms: concurrent requests interleave at
    almost every step, so that state two of them share shows in a few hundred requests."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def read_concurrently(api_url: str, cells: dict[str, tuple[str, str]]) -> Counter:
    """Every client lists its own cell's imports READS times, all clients at once: how many answers
    were right, wrong (another status or another cell's imports) and 5xx."""
    outcomes: Counter = Counter()
    start = threading.Barrier(len(cells), timeout=30)

    def client(cell: str, token: str, operation_id: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        start.wait()
        for _ in range(READS):
            response = session.get(f"{api_url}/v1/cells/{cell}/imports", timeout=30)
            if response.status_code >= 500:
                outcomes["5xx"] += 1
            elif response.status_code == 200 and [item["id"] for item in response.json()["items"]] == [operation_id]:
                outcomes["right"] += 1
            else:
                outcomes["wrong"] += 1

    threads = [threading.Thread(target=client, args=(cell, *seeded)) for cell, seeded in cells.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_clients_each_see_only_their_own_cell_on_a_fresh_and_on_a_warm_stack(
    fresh_api, cells, frequent_thread_switches
):
    cold = read_concurrently(fresh_api, cells)  # every environment's first invocation among them
    warm = read_concurrently(fresh_api, cells)
    assert (cold, warm) == (Counter(right=CLIENTS * READS), Counter(right=CLIENTS * READS))


# -- one function's environments, with a probe for a handler ----------------------------------------

PROBE = """
import bulk_import.settings  # cached settings (local_stack.clear_cached_clients)
from bulk_import.observability import logger, metrics

NAME = "probe"


def handler(event, context):
    from bulk_import.domain.records.schema import RecordInvalid  # at request time, as the layer imports some modules

    logger.append_keys(**event.get("keys", {}))
    if "barrier" in event:
        event["barrier"].wait()
    if "release" in event:
        event["entered"].set()
        event["release"].wait(10)
    keys = dict(logger.get_current_keys())
    logger.remove_keys(list(event.get("keys", {})))
    return {
        "module": globals(),
        "layer": bulk_import,
        "lazy": RecordInvalid,
        "keys": keys,
        "metrics": metrics.metric_set,
        "name": NAME,
    }
"""


@pytest.fixture
def probe(tmp_path) -> Iterator[Callable[..., FunctionsHost]]:
    """A functions host of one function, Probe, whose handler answers (in-process, unserialized) its
    module's namespace, its layer package, its logger's keys and its metric set, after waiting as the
    event asks."""
    (tmp_path / "app.py").write_text(PROBE)
    function = Function(logical_id="Probe", code_dir=tmp_path, module="app", attribute="handler", environment={})
    hosts = []

    def host(concurrency: int = DEFAULT_CONCURRENCY) -> FunctionsHost:
        hosts.append(FunctionsHost({"Probe": function}, concurrency={"Probe": concurrency}))
        return hosts[-1]

    yield host
    for made in hosts:
        made.discard_environments()


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [result.result(timeout=30) for result in [pool.submit(call) for call in calls]]


def ran_in(host: FunctionsHost, answer: dict[str, Any]) -> ExecutionEnvironment:
    """The environment whose handler module gave the probe's answer."""
    (environment,) = [e for e in host.execution_environments("Probe") if e.module.__dict__ is answer["module"]]
    return environment


def test_invocations_at_once_run_in_environments_of_their_own_and_the_next_one_in_a_warm_one(probe):
    host = probe()
    both = threading.Barrier(2, timeout=10)  # passes only if the two invocations overlap
    first, second = at_once(*[lambda: host.invoke("Probe", {"barrier": both})] * 2)
    later = host.invoke("Probe", {})

    assert first["module"] is not second["module"]
    assert first["layer"] is not second["layer"]
    for answer in (first, second):  # a layer module imported at request time is the environment's own
        assert answer["lazy"] is answer["layer"].domain.records.schema.RecordInvalid
    assert later["module"] in (first["module"], second["module"])
    ran = [environment.invocations for environment in host.execution_environments("Probe") if environment.invocations]
    assert sorted(ran) == [1, 2]


def test_the_primary_environment_runs_on_the_process_modules_and_a_copy_on_modules_of_its_own(probe):
    host = probe()
    both = threading.Barrier(2, timeout=10)
    answers = at_once(*[lambda: host.invoke("Probe", {"barrier": both})] * 2)
    primary, *copies = host.execution_environments("Probe")

    assert primary.copies is None and primary.module is host.module("Probe")
    for answer in answers:
        environment = ran_in(host, answer)
        if environment.copies is None:
            assert answer["layer"] is sys.modules["bulk_import"]
        else:  # its own, under a name of its own in sys.modules (pydantic and typing look there)
            assert answer["layer"] is environment.copies.modules["bulk_import"] is not sys.modules["bulk_import"]
            assert sys.modules[answer["layer"].__name__] is answer["layer"]
    host.discard_environments()
    assert [copy for copy in copies if copy.copies.modules["bulk_import"].__name__ in sys.modules] == []


def test_keys_appended_to_the_logger_in_one_environment_are_not_in_another_nor_its_metrics(probe):
    host = probe()
    both = threading.Barrier(2, timeout=10)
    first, second = at_once(
        lambda: host.invoke("Probe", {"barrier": both, "keys": {"first": 1}}),
        lambda: host.invoke("Probe", {"barrier": both, "keys": {"second": 2}}),
    )
    assert ("first" in first["keys"], "second" in first["keys"]) == (True, False)
    assert ("first" in second["keys"], "second" in second["keys"]) == (False, True)
    assert first["metrics"] is not second["metrics"]


def test_an_invocation_over_the_concurrency_waits_for_a_running_one_to_end(probe):
    host = probe(concurrency=1)
    entered, release = threading.Event(), threading.Event()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(host.invoke, "Probe", {"entered": entered, "release": release})
        assert entered.wait(10)
        second = pool.submit(host.invoke, "Probe", {})
        time.sleep(0.2)
        assert not second.done() and host.running() == 1
        release.set()
        assert first.result(timeout=10) and second.result(timeout=10)


def test_what_a_test_sets_on_the_host_module_reaches_every_environment_until_it_is_undone(probe, monkeypatch):
    host = probe()
    monkeypatch.setattr(host.module("Probe"), "NAME", "patched")
    both = threading.Barrier(2, timeout=10)
    assert [answer["name"] for answer in at_once(*[lambda: host.invoke("Probe", {"barrier": both})] * 2)] == [
        "patched",
        "patched",
    ]
    monkeypatch.undo()
    again = threading.Barrier(2, timeout=10)
    assert [answer["name"] for answer in at_once(*[lambda: host.invoke("Probe", {"barrier": again})] * 2)] == [
        "probe",
        "probe",
    ]


def test_an_invocation_made_from_inside_another_on_its_thread_runs_on_the_process_modules_too(probe, monkeypatch):
    """As a test's patched method invoking a function does: the caller waits, so nothing runs at once,
    and what the nested one raises is a class of the process's modules."""
    host = probe()
    probe_handler, nested = host.handler("Probe"), []

    def nesting(event, context):
        if event.get("nest"):
            nested.append(host.invoke("Probe", {}))
        return probe_handler(event, context)

    monkeypatch.setattr(host.module("Probe"), "handler", nesting)
    outer = host.invoke("Probe", {"nest": True})
    assert outer["layer"] is nested[0]["layer"] is sys.modules["bulk_import"]
    environments = host.execution_environments("Probe")
    assert [(environment.copies, environment.invocations) for environment in environments] == [(None, 1), (None, 1)]


def test_clearing_the_cached_clients_clears_every_environments_copy(probe):
    host = probe()
    both = threading.Barrier(2, timeout=10)
    at_once(*[lambda: host.invoke("Probe", {"barrier": both})] * 2)
    (copies,) = [environment.copies for environment in host.execution_environments("Probe") if environment.copies]
    get_settings = copies.modules["bulk_import.settings"].get_settings
    get_settings()
    assert get_settings.cache_info().currsize == 1
    clear_cached_clients()
    assert get_settings.cache_info().currsize == 0


def test_a_functions_concurrency_is_its_reserved_concurrency_from_the_template(tmp_path):
    (tmp_path / "template.yaml").write_text(
        """
Globals: {Function: {ReservedConcurrentExecutions: 5}}
Resources:
  Capped:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.handler, ReservedConcurrentExecutions: 2}
  Other: {Type: AWS::Serverless::Function, Properties: {Handler: app.handler}}
"""
    )
    assert function_concurrency(SamTemplate(tmp_path / "template.yaml")) == {"Capped": 2, "Other": 5}


ROUTER_PROBE = """
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

app = APIGatewayRestResolver()


@app.get("/echo/<name>")
def echo(name):
    app.current_event.raw_event["barrier"].wait()  # both requests are being resolved now
    return {"name": name, "path": app.current_event.path}


def handler(event, context):
    return app.resolve(event, context)
"""


def test_requests_resolved_at_once_each_see_their_own_in_powertools_routers(tmp_path):
    """Powertools' event handler keeps the request on a class: one per process on Lambda, one per
    invocation here, though the invocations share a process."""
    (tmp_path / "app.py").write_text(ROUTER_PROBE)
    function = Function(logical_id="Router", code_dir=tmp_path, module="app", attribute="handler", environment={})
    host = FunctionsHost({"Router": function}, concurrency={"Router": 2})
    both = threading.Barrier(2, timeout=10)

    def request(name: str) -> Callable[[], Any]:
        event = {"httpMethod": "GET", "path": f"/echo/{name}", "headers": {}, "barrier": both, "requestContext": {}}
        return lambda: json.loads(host.invoke("Router", event)["body"])

    try:
        answers = at_once(request("first"), request("second"))
    finally:
        host.discard_environments()
    assert answers == [{"name": "first", "path": "/echo/first"}, {"name": "second", "path": "/echo/second"}]
