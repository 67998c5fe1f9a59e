"""`bulk-import sam-env`: env.json's shape, and a deployed stack's values (the local stack's are
tested through SAM itself in tests/integration/test_sam_local_invoke.py)."""

import boto3
import pytest
from botocore.stub import Stubber

from bulk_import_cli.main import parser
from bulk_import_cli.sam_env import container_endpoint, deployed_environments, env_file
from bulk_import_cli.usage import UsageError

STACK_ID = "arn:aws:cloudformation:eu-west-1:111122223333:stack/bulk-import-dev/0f1e2d3c-aaaa-bbbb-cccc-123456789012"
TABLE = "bulk-import-dev-ImportTable-1A2B3C4D5E6F"
BUCKET = "bulk-import-dev-importbucket-9z8y7x6w5v4u"
STATE_MACHINE = "arn:aws:states:eu-west-1:111122223333:stateMachine:bulk-import-dev-import"
BUS = "bulk-import-dev-events"
RESOURCES = {
    "ImportTable": TABLE,
    "ImportBucket": BUCKET,
    "ImportStateMachine": STATE_MACHINE,
    "ImportEventBus": BUS,
    "PersoniumStatusFunction": "bulk-import-dev-PersoniumStatusFunction-Q1W2E3R4T5Y6",
}


def cloudformation(resources: dict[str, str]):
    client = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackId": STACK_ID,
                    "StackName": "bulk-import-dev",
                    "CreationTime": "2025-01-01T00:00:00Z",
                    "StackStatus": "UPDATE_COMPLETE",
                    "Parameters": [
                        {"ParameterKey": "LogLevel", "ParameterValue": "DEBUG"},
                        {"ParameterKey": "RocketChatCell", "ParameterValue": "chat"},
                    ],
                }
            ]
        },
        {"StackName": "bulk-import-dev"},
    )
    summaries = [
        {
            "LogicalResourceId": logical,
            "PhysicalResourceId": physical,
            "ResourceType": "AWS::X::Y",
            "LastUpdatedTimestamp": "2025-01-01T00:00:00Z",
            "ResourceStatus": "CREATE_COMPLETE",
        }
        for logical, physical in resources.items()
    ]
    # Two pages, as ListStackResources returns a large stack's.
    stubber.add_response(
        "list_stack_resources",
        {"StackResourceSummaries": summaries[:2], "NextToken": "page-2"},
        {"StackName": "bulk-import-dev"},
    )
    stubber.add_response(
        "list_stack_resources",
        {"StackResourceSummaries": summaries[2:]},
        {"StackName": "bulk-import-dev", "NextToken": "page-2"},
    )
    stubber.activate()
    return client


def test_deployed_stack_gives_its_physical_names_and_parameters():
    environments = deployed_environments("bulk-import-dev", cloudformation(RESOURCES))

    events = environments["ImportEventsFunction"]
    assert (events["TABLE_NAME"], events["IMPORT_BUCKET"], events["EVENT_BUS_NAME"]) == (TABLE, BUCKET, BUS)
    assert environments["NativeWriteFunction"]["STATE_MACHINE_ARN"] == STATE_MACHINE
    assert (events["POWERTOOLS_LOG_LEVEL"], events["ROCKETCHAT_CELL"]) == ("DEBUG", "chat")  # the stack's parameters
    assert events["RETENTION_DAYS"] == "90"  # a parameter the stack left at its default
    assert events["POWERTOOLS_METRICS_NAMESPACE"] == "BulkImport/bulk-import-dev"  # ${AWS::StackName}
    assert not any("AWS_ENDPOINT_URL" in environment for environment in environments.values())  # AWS::NoValue


def test_a_stack_without_a_resource_the_template_names_is_refused():
    resources = {name: physical for name, physical in RESOURCES.items() if name != "ImportEventBus"}

    with pytest.raises(UsageError, match="no resource ImportEventBus"):
        deployed_environments("bulk-import-dev", cloudformation(resources))


def test_env_file_shares_common_values_in_parameters_and_keeps_differing_ones_per_function():
    environments = {
        "A": {"TABLE_NAME": "t", "LEVEL": "INFO"},
        "B": {"TABLE_NAME": "t", "LEVEL": "DEBUG"},
        "C": {"BUS": "b"},
    }

    content = env_file(environments, {"AWS_ENDPOINT_URL": "http://host.docker.internal:5000"})

    assert content == {
        "Parameters": {"BUS": "b", "TABLE_NAME": "t", "AWS_ENDPOINT_URL": "http://host.docker.internal:5000"},
        "A": {"LEVEL": "INFO"},
        "B": {"LEVEL": "DEBUG"},
    }


def test_container_endpoint_keeps_the_port_on_the_containers_host():
    assert container_endpoint("http://127.0.0.1:54321") == "http://host.docker.internal:54321"
    assert container_endpoint("http://127.0.0.1:54321", "127.0.0.1") == "http://127.0.0.1:54321"


def test_sam_env_takes_the_stack_name_before_or_after_the_command():
    assert parser().parse_args(["--stack-name", "dev", "sam-env"]).stack_name == "dev"
    assert parser().parse_args(["sam-env", "--stack-name", "dev"]).stack_name == "dev"
    with pytest.raises(SystemExit):
        parser().parse_args(["sam-env", "--local", "--stack-name", "dev"])
