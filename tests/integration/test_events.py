"""Every file in events/ runs through its handler against moto, with the demo data seeded."""

from pathlib import Path

import pytest

from bulk_import.dal.s3 import default_files
from bulk_import_cli.demo import seed_demo
from tests.support.event_answers import EVENT_FILES, EXPECTED, NOT_HTTP, assert_expected_answer
from tests.support.events import load_event
from tests.support.stack import FUNCTIONS


def test_every_event_file_has_an_expectation():
    assert set(EVENT_FILES) == set(EXPECTED) | set(NOT_HTTP)


@pytest.mark.parametrize("event_file", sorted(NOT_HTTP))
def test_event_file_of_a_function_api_gateway_does_not_call(event_file, store, function_environment):
    seed_demo(store, function_environment["ROCKETCHAT_CELL"], default_files())
    assert NOT_HTTP[event_file](FUNCTIONS.invoke(Path(event_file).parts[0], load_event(event_file)))


@pytest.mark.parametrize("event_file", sorted(EXPECTED))
def test_event_file_through_its_handler(event_file, store, invoke, function_environment):
    seed_demo(store, function_environment["ROCKETCHAT_CELL"], default_files())

    result = invoke(Path(event_file).parts[0], load_event(event_file))

    assert_expected_answer(event_file, result)
