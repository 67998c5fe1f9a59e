"""EventBridge: publishing import events. Knows nothing of HTTP."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from botocore.config import Config

from bulk_import.dal import aws_clients
from bulk_import.domain.events import SOURCE, ImportEvent

_PUT_EVENTS_LIMIT = 10


class EventsNotPublished(Exception):
    """EventBridge refused some entries; the stream batch is retried."""


class EventPublisher:
    def __init__(self, bus_name: str, client: Any) -> None:
        self.bus_name = bus_name
        self.client = client

    def publish(self, events: list[ImportEvent]) -> None:
        entries: list[dict[str, Any]] = [
            {
                "Source": SOURCE,
                "DetailType": event.type.value,
                "Detail": event.detail.model_dump_json(),
                "EventBusName": self.bus_name,
                "Resources": [],
            }
            for event in events
        ]
        for start in range(0, len(entries), _PUT_EVENTS_LIMIT):
            response = self.client.put_events(Entries=entries[start : start + _PUT_EVENTS_LIMIT])
            if response.get("FailedEntryCount"):
                raise EventsNotPublished([e for e in response["Entries"] if "ErrorCode" in e])


@lru_cache(maxsize=1)
def default_publisher() -> EventPublisher:
    # botocore's standard mode: throttling and 5xx, at most 4 attempts (then the stream batch is retried)
    retries = Config(retries={"mode": "standard", "total_max_attempts": 4})
    return EventPublisher(os.environ["EVENT_BUS_NAME"], aws_clients.client("events", config=retries))
