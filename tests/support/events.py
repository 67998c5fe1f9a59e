"""Events as the functions receive them (events/ and variations of them), their answers as a client
sees them, and the EventBridge events the functions publish."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from tests.support.stack import ROOT


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, list[str]]
    body: Any


def http_result(response: dict) -> HttpResult:
    """A Lambda proxy response as the client sees it: the body decoded when it is JSON."""
    headers = response.get("multiValueHeaders") or {k: [v] for k, v in (response.get("headers") or {}).items()}
    content_type = (headers.get("Content-Type") or [""])[0]
    body = response["body"] or None
    return HttpResult(response["statusCode"], headers, json.loads(body) if body and "json" in content_type else body)


def load_event(relative_path: str) -> dict:
    return json.loads((ROOT / "events" / relative_path).read_text())


def api_event(
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    query: dict | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """A REST API proxy event for `method path`, shaped like the files in events/ (one of which it
    starts from), for tests that vary what events/ fixes."""
    event = load_event("NativeReadFunction/list-imports.json")
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    all_headers = (
        {"Host": event["headers"]["Host"], "Accept": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {})
        | ({"Content-Type": "application/json"} if body is not None else {})
        | (headers or {})
    )
    event.update(
        path=path,
        httpMethod=method,
        headers=all_headers,
        multiValueHeaders={name: [value] for name, value in all_headers.items()},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in (query or {}).items()} or None,
        body=json.dumps(body) if body is not None else None,
    )
    return event


def capture_bus_events(bus: str, name: str, pattern: dict) -> Callable[[], list[dict]]:
    """Routes the events matching `pattern` on `bus` to a new SQS queue (moto delivers rule targets);
    returns a function that drains the queue and answers every event received so far."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    received: list[dict] = []

    def drain() -> list[dict]:
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            received.extend(json.loads(message["Body"]) for message in messages)
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return received

    return drain
