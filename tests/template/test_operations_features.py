"""template.yaml as an operator expects a SAM app to run (issue 11): logs with a retention, X-Ray as
an option, metrics namespaced per stack, aliases with gradual deployment and rollback, the sweeper
on EventBridge Scheduler, throttling and a usage plan, a custom domain at the root, and a deploying
guide (docs/deploying.md) that takes a new user to a working stack.

Some checks read the template as SAM expands it (the same translator `sam validate` and
CloudFormation run), since what matters is what gets deployed: the roles SAM writes, the aliases
it points callers at, the versions it publishes."""

import copy
import json
import re
from pathlib import Path

import pytest
from cfnlint.decode import decode
from cfnlint.template.transforms._sam import Transform

ROOT = Path(__file__).resolve().parents[2]
#: CloudWatch Logs' accepted retentions (PutRetentionPolicy).
LOG_RETENTIONS = [
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
]
#: What SAM's LambdaInvokePolicy grants: the function, and its aliases and versions (`<name>:live`).
LAMBDA_INVOKE_RESOURCE = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*"


@pytest.fixture(scope="module")
def template():
    decoded, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    return decoded


def expand(template, layer_uri="s3://bucket/layer"):
    """The template after the SAM transform, with the layer's artifact at `layer_uri`."""
    copied = copy.deepcopy(template)
    copied["Resources"]["BulkImportLayer"]["Properties"]["ContentUri"] = layer_uri
    transform = Transform(str(ROOT / "template.yaml"), copied, "us-east-1")
    assert not transform.transform_template()
    return transform.template()


@pytest.fixture(scope="module")
def expanded(template):
    return expand(template)


def of_type(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def functions(template):
    return of_type(template, "AWS::Serverless::Function")


def api_functions(template):
    return {
        name
        for name, f in functions(template).items()
        if any(e["Type"] == "Api" for e in f["Properties"].get("Events", {}).values())
    }


def log_group(template, reference):
    """The AWS::Logs::LogGroup a Ref or GetAtt .Arn names; its retention must be the parameter's."""
    name = reference["Ref"] if "Ref" in reference else reference["Fn::GetAtt"][0]
    assert "Fn::GetAtt" not in reference or reference["Fn::GetAtt"][1] == "Arn"
    group = template["Resources"][name]
    assert group["Type"] == "AWS::Logs::LogGroup", name
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    return name


def statement_actions(role):
    return {
        action
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }


# -- 1. logs and tracing --------------------------------------------------------------------------


def test_log_retention_is_a_parameter_of_cloudwatchs_values(template):
    parameter = template["Parameters"]["LogRetentionDays"]
    assert parameter["AllowedValues"] == LOG_RETENTIONS
    assert parameter["Default"] in LOG_RETENTIONS


def test_every_function_logs_to_a_group_of_its_own_with_the_retention(template):
    groups = [log_group(template, f["Properties"]["LoggingConfig"]["LogGroup"]) for f in functions(template).values()]
    assert len(set(groups)) == len(groups) == len(functions(template))


def test_the_state_machine_logs_its_errors_without_execution_data_to_its_group(template, expanded):
    logging = template["Resources"]["ImportStateMachine"]["Properties"]["Logging"]
    assert logging["Level"] in ("ERROR", "ALL") and logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    log_group(template, destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
    # Step Functions refuses a logging configuration its role may not deliver with.
    granted = statement_actions(expanded["Resources"]["ImportStateMachineRole"])
    assert {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    } <= granted


def test_api_access_logs_are_one_json_object_per_request_with_what_an_operator_looks_for(template):
    api = template["Resources"]["ImportApi"]
    setting = api["Properties"]["AccessLogSetting"]
    log_group(template, setting["DestinationArn"])
    fields = json.loads(setting["Format"])  # API Gateway substitutes the $context variables inside the strings
    assert {
        name: fields[name]
        for name in ("requestId", "ip", "caller", "method", "path", "status", "latency", "integrationError")
    } == {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "method": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "latency": "$context.responseLatency",
        "integrationError": "$context.integration.error",
    }
    # API Gateway logs only with the account's CloudWatch role set: the stack sets it before the API.
    assert api["DependsOn"] == "ApiGatewayAccount"
    assert of_type(template, "AWS::ApiGateway::Account")


def test_xray_tracing_is_one_parameter_driving_functions_api_and_state_machine(template, expanded):
    assert template["Parameters"]["EnableTracing"]["AllowedValues"] == ["true", "false"]
    assert template["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "EnableTracing"}, "true"]}
    assert template["Globals"]["Function"]["Tracing"] == {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}
    assert template["Resources"]["ImportApi"]["Properties"]["TracingEnabled"] == {
        "Fn::If": ["TracingEnabled", True, False]
    }
    assert template["Resources"]["ImportStateMachine"]["Properties"]["Tracing"] == {
        "Enabled": {"Fn::If": ["TracingEnabled", True, False]}
    }
    # SAM adds X-Ray's permissions to a state machine only for a literal `Enabled: true`.
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= statement_actions(
        expanded["Resources"]["ImportStateMachineRole"]
    )


# -- 2. metrics namespaced per stack --------------------------------------------------------------


def test_metrics_alarms_and_dashboard_share_one_namespace_per_stack(template):
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert re.fullmatch(r"BulkImport/.*\$\{(AWS::StackName|Environment)\}.*", namespace["Fn::Sub"])
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()
    ours = [
        alarm["Properties"]["Namespace"]
        for alarm in alarms
        if not str(alarm["Properties"]["Namespace"]).startswith("AWS/")
    ]
    assert len(ours) >= 2 and all(value == namespace for value in ours)
    body = template["Resources"]["ImportDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    charted = set(re.findall(r'\[("[^"]+"), "\w+", "service"', body))
    assert charted == {json.dumps(namespace["Fn::Sub"])}


# -- 3. aliases, gradual deployment, rollback -----------------------------------------------------


def test_every_function_publishes_a_live_alias_on_every_change(template):
    function_globals = template["Globals"]["Function"]
    assert function_globals["AutoPublishAlias"] == "live"
    assert function_globals["AutoPublishAliasAllProperties"] is True
    assert not any("AutoPublishAlias" in f["Properties"] for f in functions(template).values())


def test_a_change_to_the_layer_alone_publishes_a_new_version_of_every_function(template):
    # Without it the aliases would stay on versions with the old layer: most code is in the layer.
    before = set(of_type(expand(template, "s3://bucket/layer-1"), "AWS::Lambda::Version"))
    after = set(of_type(expand(template, "s3://bucket/layer-2"), "AWS::Lambda::Version"))
    assert len(before) == len(functions(template)) and not before & after


def test_api_functions_shift_traffic_gradually_and_roll_back_on_the_apis_5xx(template):
    assert api_functions(template) >= {"PersoniumStatusFunction", "RocketChatStatusFunction", "NativeReadFunction"}
    for name, function in functions(template).items():
        preference = function["Properties"].get("DeploymentPreference")
        if name not in api_functions(template):
            assert preference is None, name
            continue
        assert preference["Type"] == {"Ref": "ApiDeploymentPreference"}, name
        alarms = [template["Resources"][alarm["Ref"]]["Properties"] for alarm in preference["Alarms"]]
        assert any(
            alarm["Namespace"] == "AWS/ApiGateway"
            and alarm["MetricName"] == "5XXError"
            and {"Name": "ApiName", "Value": {"Ref": "AWS::StackName"}} in alarm["Dimensions"]
            and alarm["Threshold"] <= 1
            for alarm in alarms
        ), name
    parameter = template["Parameters"]["ApiDeploymentPreference"]
    assert parameter["Default"].startswith(("Canary", "Linear")) and parameter["Default"] in parameter["AllowedValues"]


def test_the_state_machine_calls_the_workers_live_alias_which_its_policy_allows(template, expanded):
    substitutions = template["Resources"]["ImportStateMachine"]["Properties"]["DefinitionSubstitutions"]
    for key, function in (
        ("StageFunctionArn", "ImportStageFunction"),
        ("BatchFunctionArn", "ImportBatchFunction"),
        ("PhaseFunctionArn", "ImportPhaseFunction"),
    ):
        assert substitutions[key] == {"Ref": f"{function}.Alias"}
        # LambdaInvokePolicy's resource is function:<name>*, which covers function:<name>:live.
        resources = [
            statement["Resource"]
            for policy in expanded["Resources"]["ImportStateMachineRole"]["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
            if "lambda:InvokeFunction" in statement["Action"]
        ]
        assert [LAMBDA_INVOKE_RESOURCE, {"functionName": {"Ref": function}}] in [
            r["Fn::Sub"] for r in resources if "Fn::Sub" in r
        ]
    assert expanded["Resources"]["ImportStateMachine"]["Properties"]["DefinitionSubstitutions"]["BatchFunctionArn"] == {
        "Ref": "ImportBatchFunctionAliaslive"
    }


# -- 4. the sweeper on EventBridge Scheduler ------------------------------------------------------


def test_the_sweeper_runs_on_eventbridge_scheduler_every_5_minutes_retried_until_the_next(template, expanded):
    (event,) = template["Resources"]["ImportSweeperFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "ScheduleV2"
    properties = event["Properties"]
    assert properties["ScheduleExpression"] == "rate(5 minutes)"
    assert properties["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 300
    assert properties["Name"] == {"Fn::Sub": "${AWS::StackName}-sweep"}  # unique per stack in the account
    (schedule,) = of_type(expanded, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["Target"]["Arn"] == {"Ref": "ImportSweeperFunctionAliaslive"}


# -- 5. throttling and the usage plan -------------------------------------------------------------


def test_the_stage_is_throttled_and_a_usage_plan_covers_it_without_requiring_keys(template):
    (setting,) = template["Resources"]["ImportApi"]["Properties"]["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    (plan,) = of_type(template, "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["ApiStages"] == [{"ApiId": {"Ref": "ImportApi"}, "Stage": {"Ref": "ImportApi.Stage"}}]
    assert plan["Properties"]["Throttle"] == {
        "RateLimit": {"Ref": "ThrottlingRateLimit"},
        "BurstLimit": {"Ref": "ThrottlingBurstLimit"},
    }
    # The dialects' clients send no API key: none is required, and none is created for nobody to hold.
    assert "Auth" not in template["Resources"]["ImportApi"]["Properties"]
    assert not of_type(template, "AWS::ApiGateway::ApiKey")
    text = (ROOT / "template.yaml").read_text()
    assert "limits nobody today" in text


# -- 6. a custom domain at the root ---------------------------------------------------------------


def test_an_optional_custom_domain_serves_the_api_at_its_root(template):
    assert template["Parameters"]["DomainName"]["Default"] == ""
    assert template["Parameters"]["CertificateArn"]["Default"] == ""
    assert template["Conditions"]["HasCustomDomain"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}
    ((domain_id, domain),) = of_type(template, "AWS::ApiGateway::DomainName").items()
    assert domain["Condition"] == "HasCustomDomain"
    assert domain["Properties"] == {
        "DomainName": {"Ref": "DomainName"},
        "RegionalCertificateArn": {"Ref": "CertificateArn"},
        "EndpointConfiguration": {"Types": ["REGIONAL"]},
        "SecurityPolicy": "TLS_1_2",
    }
    (mapping,) = of_type(template, "AWS::ApiGateway::BasePathMapping").values()
    assert mapping["Condition"] == "HasCustomDomain"
    assert mapping["Properties"] == {
        "DomainName": {"Ref": domain_id},
        "RestApiId": {"Ref": "ImportApi"},
        "Stage": {"Ref": "ImportApi.Stage"},
    }  # no BasePath: the root
    rule = next(
        r for r in template["Rules"].values() if r["RuleCondition"] == template["Conditions"]["HasCustomDomain"]
    )
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]}
    outputs = template["Outputs"]
    assert outputs["CustomDomainUrl"]["Value"] == {"Fn::Sub": "https://${DomainName}"}
    assert outputs["CustomDomainTarget"]["Value"] == {"Fn::GetAtt": [domain_id, "RegionalDomainName"]}
    assert all(outputs[name]["Condition"] == "HasCustomDomain" for name in ("CustomDomainUrl", "CustomDomainTarget"))


# -- 7. docs/deploying.md takes a new user to a working stack -------------------------------------


def deploy_section():
    return (ROOT / "docs/deploying.md").read_text()


def test_the_deploying_doc_lists_every_parameter(template):
    table = {row.split("|")[1].strip().strip("`") for row in deploy_section().splitlines() if row.startswith("| `")}
    assert table == set(template["Parameters"])


def test_the_deploying_doc_goes_from_build_to_smoke_test_to_teardown():
    section = deploy_section()
    for step in (
        "make build",
        "sam deploy",
        "token create --cell",
        "token create --user",
        "token create --api",
        "scripts/smoke.sh",
        "CustomDomainUrl",
        "CustomDomainTarget",
        "execute-api",
        "sam delete",
    ):
        assert step in section, step
    assert (ROOT / "scripts/smoke.sh").stat().st_mode & 0o111
