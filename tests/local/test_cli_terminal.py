"""`bulk-import serve`'s terminal and the progress of `imports watch`, without a stack: what the
functions print goes to their own log files (or the terminal with --verbose), request lines and the
progress bar stay whole lines."""

import io
import logging
import sys
import threading

from rich.console import Console

from bulk_import_cli.watch import watch
from bulk_import_local.sdk_boundary import current_function
from bulk_import_local.terminal import REQUEST_LOGGER, STACK_LOG, OutputRouter, Terminal, routed_output


def print_as(function: str | None, *lines: str) -> None:
    """Prints `lines` as the handler of `function` would, in a thread of its own (print() writes each
    line's text and its newline separately)."""

    def run() -> None:
        current_function.set(function)
        for line in lines:
            print(line)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def terminal_console() -> Terminal:
    terminal = Terminal(io.StringIO())
    terminal.console = Console(file=io.StringIO(), width=200, force_terminal=False)
    return terminal


def test_each_functions_output_goes_to_its_own_log_file(tmp_path):
    terminal = terminal_console()
    router = OutputRouter(tmp_path / "logs", ["PersoniumStatusFunction", "ImportBatchFunction"])
    with routed_output(router, terminal):
        print_as("PersoniumStatusFunction", '{"level":"INFO","message":"Personium request"}', '{"_aws":{}}')
        print_as("ImportBatchFunction", '{"message":"batch"}')
        print_as(None, "moto: a warning")
        print_as("NotInTheTemplateFunction", "late")
    assert sys.stdout is not router and router.closed
    assert (tmp_path / "logs/PersoniumStatusFunction.log").read_text() == (
        '{"level":"INFO","message":"Personium request"}\n{"_aws":{}}\n'
    )
    assert (tmp_path / "logs/ImportBatchFunction.log").read_text() == '{"message":"batch"}\n'
    assert (tmp_path / f"logs/{STACK_LOG}.log").read_text() == "moto: a warning\n"
    assert (tmp_path / "logs/NotInTheTemplateFunction.log").read_text() == "late\n"
    assert terminal.console.file.getvalue() == ""  # not --verbose


def test_verbose_prints_the_functions_output_on_the_terminal_too(tmp_path):
    terminal = terminal_console()
    router = OutputRouter(tmp_path / "logs", ["PersoniumStatusFunction"], terminal)
    with routed_output(router, terminal):
        print_as("PersoniumStatusFunction", '{"message":"Personium request"}')
    assert terminal.console.file.getvalue() == 'PersoniumStatusFunction {"message":"Personium request"}\n'
    assert (tmp_path / "logs/PersoniumStatusFunction.log").read_text() == '{"message":"Personium request"}\n'


def test_a_logger_holding_the_original_stdout_is_routed_too_and_given_back(tmp_path):
    handler = logging.StreamHandler(sys.stdout)
    logger = logging.getLogger("test-cli-terminal-early-logger")
    logger.addHandler(handler)
    try:
        original = handler.stream
        with routed_output(OutputRouter(tmp_path, ["F"]), terminal_console()):
            current_function.set("F")
            logger.warning("from a Logger made before serve")
            current_function.set(None)
        assert handler.stream is original
        assert (tmp_path / "F.log").read_text() == "from a Logger made before serve\n"
    finally:
        logger.removeHandler(handler)


def test_request_lines_reach_the_terminal_whole(tmp_path):
    terminal = terminal_console()
    with routed_output(OutputRouter(tmp_path, []), terminal):
        logging.getLogger(REQUEST_LOGGER).info(
            "%s %s %s %.0fms", "GET", "/demo/__import", 200, 12.3, extra={"status": 200}
        )
    (line,) = terminal.console.file.getvalue().splitlines()
    assert line.endswith(" GET /demo/__import 200 12ms") and line[2] == ":" and len(line.split()) == 5
    assert (tmp_path / f"{STACK_LOG}.log").read_text() == ""


def view(state: str, done: int, total: int = 1000) -> dict:
    return {
        "id": "01a2",
        "name": "users.jsonl",
        "state": state,
        "stalled": False,
        "percent": done * 100 // (total or 1),
        "counts": {"completed": done, "error": 0, "total": total},
        "rate": 150.0,
        "etaSeconds": 5,
    }


def test_without_a_terminal_the_progress_is_a_line_per_state_and_per_10_percent():
    views = iter(
        [
            view("loading", 0, 0),
            view("importing", 0),
            view("importing", 50),
            view("importing", 120),
            view("importing", 150),
            view("importing", 990),
            view("done", 1000),
        ]
    )
    console = Console(file=io.StringIO(), width=80)  # not a terminal: a CI log
    final = watch(lambda: next(views), console, interval=0)
    assert final["state"] == "done"
    assert console.file.getvalue().splitlines() == [
        "users.jsonl loading   0% 0/0 150.0 records/s ETA 5s",
        "users.jsonl importing   0% 0/1,000 150.0 records/s ETA 5s",
        "users.jsonl importing  12% 120/1,000 150.0 records/s ETA 5s",
        "users.jsonl importing  99% 990/1,000 150.0 records/s ETA 5s",
        "users.jsonl done 100% 1,000/1,000 150.0 records/s ETA 5s",
    ]


def test_on_a_terminal_a_line_printed_during_the_bar_stays_whole_above_it():
    terminal = Terminal(io.StringIO())
    terminal.console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None)
    views = iter([view("importing", 100), view("importing", 500), view("done", 1000)])

    def fetch() -> dict:
        current = next(views)
        if current["counts"]["completed"] == 500:  # a request arrives in the middle of the import
            terminal.print("07:00:00 GET /demo/__import 200 12ms")
        return current

    watch(fetch, terminal.console, interval=0)
    screen = terminal.console.file.getvalue()
    assert "\x1b[2K07:00:00 GET /demo/__import 200 12ms\n" in screen  # the bar's line cleared, then the line
    last = screen.rsplit("\r", 1)[-1]  # the bar's last drawing
    assert "users.jsonl done" in last and "100% 1,000/1,000" in last
