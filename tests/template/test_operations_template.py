"""template.yaml's operations side: alarms on metrics the code publishes, the events pipeline,
the sweeper's schedule, retention, and the webhook only when asked for."""

import re
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template():
    decoded, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    return decoded


def published_metrics() -> set[str]:
    code = "".join(path.read_text() for folder in ("functions", "layers") for path in (ROOT / folder).rglob("*.py"))
    return set(re.findall(r'name="(\w+)", unit=', code)) | set(re.findall(r'"(Imports\w+)"', code))


def test_every_alarm_on_our_namespace_watches_a_metric_the_code_publishes(template):
    alarms = {
        name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    ours = {name: alarm["MetricName"] for name, alarm in alarms.items() if alarm["Namespace"] == namespace}
    assert set(ours) == {"FailedImportsAlarm", "StalledImportsAlarm"}
    assert set(ours.values()) <= published_metrics()
    assert all(alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] for alarm in alarms.values())


def test_the_dashboard_charts_only_published_metrics(template):
    body = template["Resources"]["ImportDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]["Fn::Sub"]
    charted = set(re.findall(rf'\["{re.escape(namespace)}", "(\w+)"', body))
    assert charted and charted <= published_metrics()


def test_operation_changes_reach_the_event_function_filtered_with_a_dead_letter_queue(template):
    (event,) = template["Resources"]["ImportEventsFunction"]["Properties"]["Events"].values()
    properties = event["Properties"]
    assert event["Type"] == "DynamoDB" and properties["Stream"] == {"Fn::GetAtt": ["ImportTable", "StreamArn"]}
    assert "IMPORT#~latest" in properties["FilterCriteria"]["Filters"][0]["Pattern"]
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["ImportEventsDeadLetterQueue", "Arn"]
    }
    table = template["Resources"]["ImportTable"]["Properties"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_the_sweeper_runs_on_a_schedule(template):
    (event,) = template["Resources"]["ImportSweeperFunction"]["Properties"]["Events"].values()
    assert (event["Type"], event["Properties"]["ScheduleExpression"]) == ("ScheduleV2", "rate(5 minutes)")


def test_retention_and_stall_limits_are_parameters_every_function_gets(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["RETENTION_DAYS"] == {"Ref": "RetentionDays"}
    assert template["Parameters"]["RetentionDays"]["Default"] == 90
    assert variables["STALLED_AFTER_MINUTES"] == {"Ref": "StalledAfterMinutes"}
    assert variables["FAIL_STALLED_AFTER_MINUTES"] == {"Ref": "FailStalledAfterMinutes"}


def test_webhook_delivery_exists_only_when_a_url_is_given(template):
    webhook = {name: r for name, r in template["Resources"].items() if name.startswith("Webhook")}
    assert {r["Type"] for r in webhook.values()} >= {
        "AWS::Events::Connection",
        "AWS::Events::ApiDestination",
        "AWS::Events::Rule",
    }
    assert all(r.get("Condition") == "HasWebhook" for r in webhook.values())
    (target,) = webhook["WebhookRule"]["Properties"]["Targets"]
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
