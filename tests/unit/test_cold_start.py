"""An API handler module's cold start ends once its handler has answered its first event."""

import gc
from collections.abc import Iterator

import pytest

from bulk_import.api import cold_start


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


def test_the_collector_stays_off_until_the_first_answer_then_what_it_kept_is_frozen() -> None:
    kept: list[object] = []

    @cold_start.ends_after_first_answer
    def handler(event: dict, context: object) -> dict:
        assert not gc.isenabled()  # the first request runs with the collector still off
        kept.append(object())
        return {"statusCode": 200}

    cold_start.begin()
    assert not gc.isenabled()
    frozen = gc.get_freeze_count()
    assert handler({}, None) == {"statusCode": 200}
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen


def test_it_ends_once_even_when_the_first_event_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    ended: list[bool] = []
    monkeypatch.setattr(cold_start, "end", lambda: ended.append(True))

    @cold_start.ends_after_first_answer
    def handler(event: dict, context: object) -> dict:
        if event.get("fail"):
            raise ValueError("refused")
        return {"statusCode": 200}

    with pytest.raises(ValueError, match="refused"):
        handler({"fail": True}, None)
    handler({}, None)
    handler({}, None)
    assert ended == [True]
