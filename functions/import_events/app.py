"""The table's stream -> EventBridge: an event on every import state change and every 10% of progress."""

from typing import cast

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord, StreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.dal.dynamodb.operation_items import LATEST, operation_from_item
from bulk_import.dal.eventbridge import default_publisher
from bulk_import.domain.events import EventType as ImportEventType
from bulk_import.domain.events import events_between
from bulk_import.domain.operation import ImportState
from bulk_import.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
#: Metrics per state an import reaches; the alarms in template.yaml watch ImportsFailed.
STATE_METRICS = {
    ImportState.ERROR: "ImportsFailed",
    ImportState.DONE: "ImportsDone",
    ImportState.CANCELED: "ImportsCanceled",
}


def publish_changes(record: DynamoDBRecord) -> None:
    change = cast(StreamRecord, record.dynamodb)  # every record of a table's stream has one
    # The filter in template.yaml sends only the latest-operation item; its deletion (by TTL) has
    # no new image and announces nothing.
    if change.keys.get("SK") != LATEST or not change.new_image:
        return
    old = operation_from_item(change.old_image) if change.old_image else None
    events = events_between(old, operation_from_item(change.new_image))
    default_publisher().publish(events)
    for event in events:
        metric = STATE_METRICS.get(event.detail.state)
        if event.type is ImportEventType.STATE_CHANGED and metric:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        logger.info(
            event.type.value,
            extra={"operation_id": event.detail.id, "state": event.detail.state, "percent": event.detail.percent},
        )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=publish_changes, processor=processor, context=context)
