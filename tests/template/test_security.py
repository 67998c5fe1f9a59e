"""template.yaml passes a security review (issue 11): alarms that CloudWatch can deliver to an
encrypted topic, data at rest and in transit protected, and no secret in a parameter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from bulk_import.dal.s3 import ImportFiles, SourceChanged
from bulk_import_local.sam_template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FILE = ROOT / "template.yaml"
ACCOUNT_ID = {"Ref": "AWS::AccountId"}
PLAIN_HTTP = {"Bool": {"aws:SecureTransport": "false"}}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_FILE)


def resources_of_type(template, kind) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def statements(policy: dict[str, Any], effect: str, principal: Any) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if s["Effect"] == effect and s["Principal"] == principal]


def evaluate(value: Any, parameters: dict[str, Any], conditions: dict[str, Any]) -> Any:
    """The condition functions the template uses in Conditions and Rules, as CloudFormation evaluates them."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return parameters[argument]
        if function == "Condition":
            return evaluate(conditions[argument], parameters, conditions)
        arguments = [evaluate(item, parameters, conditions) for item in listed(argument)]
        if function == "Fn::Equals":
            return arguments[0] == arguments[1]
        if function == "Fn::Not":
            return not arguments[0]
        if function == "Fn::And":
            return all(arguments)
        if function == "Fn::Or":
            return any(arguments)
        if function == "Fn::Join":
            separator, items = arguments
            return separator.join(items)
    return value


def parameter_values(template, **overrides: Any) -> dict[str, Any]:
    """Every parameter's default as CloudFormation passes it (a CommaDelimitedList is a list), then the overrides."""
    values = {}
    for name, definition in template["Parameters"].items():
        default = definition.get("Default", "")
        values[name] = str(default).split(",") if definition["Type"] == "CommaDelimitedList" else default
    return values | overrides


# -- 1. alarms reach the topic -------------------------------------------------------------------


def test_the_alarm_topic_is_encrypted_with_a_rotated_customer_managed_key(template):
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    key_ref = topic["KmsMasterKeyId"]
    assert isinstance(key_ref, dict) and set(key_ref) == {"Ref"}, "not an AWS-managed key such as alias/aws/sns"
    key = template["Resources"][key_ref["Ref"]]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] in ("Delete", "Retain") and key["UpdateReplacePolicy"] == key["DeletionPolicy"]
    aliases = [a["Properties"] for a in resources_of_type(template, "AWS::KMS::Alias").values()]
    assert [a["TargetKeyId"] for a in aliases] == [key_ref]
    assert aliases[0]["AliasName"] != "alias/aws/sns"


def test_the_alarm_key_lets_the_account_administer_it_and_cloudwatch_use_it(template):
    key_ref = template["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    policy = template["Resources"][key_ref["Ref"]]["Properties"]["KeyPolicy"]
    (account,) = statements(policy, "Allow", {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}})
    assert listed(account["Action"]) == ["kms:*"]
    (cloudwatch,) = statements(policy, "Allow", {"Service": "cloudwatch.amazonaws.com"})
    assert set(listed(cloudwatch["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID


def test_cloudwatch_alarms_may_publish_to_the_alarm_topic_only_over_tls(template):
    (policy,) = [
        p["Properties"]
        for p in resources_of_type(template, "AWS::SNS::TopicPolicy").values()
        if {"Ref": "AlarmTopic"} in p["Properties"]["Topics"]
    ]
    document = policy["PolicyDocument"]
    (publish,) = statements(document, "Allow", {"Service": "cloudwatch.amazonaws.com"})
    assert listed(publish["Action"]) == ["sns:Publish"]
    assert publish["Resource"] == {"Ref": "AlarmTopic"}
    assert publish["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID
    (deny,) = statements(document, "Deny", "*")
    assert listed(deny["Action"]) == ["sns:Publish"] and deny["Condition"] == PLAIN_HTTP


# -- 2. the bucket: TLS only, versions, CORS ----------------------------------------------------


def test_the_bucket_refuses_every_request_without_tls(template):
    (policy,) = [
        p["Properties"]
        for p in resources_of_type(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": "ImportBucket"}
    ]
    (deny,) = statements(policy["PolicyDocument"], "Deny", "*")
    assert listed(deny["Action"]) == ["s3:*"]
    assert deny["Condition"] == PLAIN_HTTP
    assert listed(deny["Resource"]) == [{"Fn::GetAtt": ["ImportBucket", "Arn"]}, {"Fn::Sub": "${ImportBucket.Arn}/*"}]


def test_the_bucket_keeps_versions_and_expires_the_noncurrent_ones(template):
    bucket = template["Resources"]["ImportBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    (noncurrent,) = [rule for rule in rules if "NoncurrentVersionExpiration" in rule]
    assert "Prefix" not in noncurrent and 1 <= noncurrent["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 30
    assert noncurrent["ExpiredObjectDeleteMarker"] is True
    # What was there before versioning stays: each prefix's expiration and the multipart cleanup.
    assert {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules if "Prefix" in rule} == {
        "manifests/": 7,
        "staging/": {"Ref": "StagedRecordsRetentionDays"},
        "results/": 7,
        "uploads/": 30,
        "retries/": 30,
        "exports/": 1,
    }
    assert [rule["AbortIncompleteMultipartUpload"] for rule in rules if "AbortIncompleteMultipartUpload" in rule] == [
        {"DaysAfterInitiation": 7}
    ]


def test_the_bucket_has_cors_only_for_the_configured_origins(template):
    cors = template["Resources"]["ImportBucket"]["Properties"]["CorsConfiguration"]
    condition, configured, otherwise = cors["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    (rule,) = configured["CorsRules"]
    assert rule["AllowedOrigins"] == {"Ref": "UploadCorsOrigins"}
    assert rule["AllowedMethods"] == ["PUT"] and rule["ExposedHeaders"] == ["ETag"]
    parameter = template["Parameters"]["UploadCorsOrigins"]
    assert parameter["Type"] == "CommaDelimitedList"
    conditions = template["Conditions"]

    def has_cors(**overrides):
        return evaluate(conditions[condition], parameter_values(template, **overrides), conditions)

    assert has_cors() is False  # the default: no CORS configuration at all
    assert has_cors(UploadCorsOrigins=["https://app.example.com"]) is True
    assert has_cors(UploadCorsOrigins=["https://app.example.com", "https://admin.example.com"]) is True


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("", True),
        ("https://app.example.com", True),
        ("http://localhost:5173", True),
        ("*", False),
        ("https://*.example.com", False),
        ("app.example.com", False),
    ],
)
def test_upload_cors_origins_refuses_wildcards(template, origin, allowed):
    pattern = template["Parameters"]["UploadCorsOrigins"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, origin)) is allowed


def test_the_deploying_doc_says_how_to_allow_browser_uploads():
    deploying = (ROOT / "docs/deploying.md").read_text()
    assert "UploadCorsOrigins" in deploying


def test_a_pinned_input_still_reads_and_detects_a_replacement_on_a_versioned_bucket(aws, template):
    """The worker pins its input by ETag (If-Match); on a versioned bucket, as the template declares
    it, that still reads the version it pinned and refuses a replaced one."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="versioned-imports")
    s3.put_bucket_versioning(
        Bucket="versioned-imports",
        VersioningConfiguration=template["Resources"]["ImportBucket"]["Properties"]["VersioningConfiguration"],
    )
    files = ImportFiles("versioned-imports", s3)
    files.put("uploads/demo/users.jsonl", b'{"type": "user", "username": "ann"}\n')
    etag = files.etag("uploads/demo/users.jsonl")
    with files.opener("uploads/demo/users.jsonl", etag)() as pinned:
        assert pinned.read() == b'{"type": "user", "username": "ann"}\n'

    files.put("uploads/demo/users.jsonl", b'{"type": "user", "username": "bob"}\n')
    with pytest.raises(SourceChanged):
        files.opener("uploads/demo/users.jsonl", etag)().read()
    files.write_manifest("op", "user", [{"batch": 0}])
    files.delete_manifests("op", ["user"])  # on a versioned bucket: a delete marker over the manifest
    assert files.first_object("manifests/") is None


# -- 3. secrets -------------------------------------------------------------------------------


def test_no_parameter_holds_a_secret_or_defaults_one(template):
    for name, definition in template["Parameters"].items():
        assert not (definition.get("NoEcho") and "Default" in definition), f"{name}: a secret with a default"
        assert not re.search(r"(ApiKey|Password|Secret|Token)$", name), f"{name}: a secret in a plain parameter"


def test_the_webhook_key_is_read_from_secrets_manager_at_deploy_time(template):
    parameter = template["Parameters"]["WebhookApiKeySecretArn"]
    assert parameter["Default"] == ""
    assert re.fullmatch(
        parameter["AllowedPattern"], "arn:aws:secretsmanager:us-east-1:123456789012:secret:bulk-import/webhook-AbCdEf"
    )
    assert not re.fullmatch(parameter["AllowedPattern"], "unset")
    connection = template["Resources"]["WebhookConnection"]
    assert connection["Condition"] == "HasWebhook"
    value = connection["Properties"]["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyValue"]
    assert value == {"Fn::Sub": "{{resolve:secretsmanager:${WebhookApiKeySecretArn}:SecretString}}"}


@pytest.mark.parametrize(
    ("url", "secret", "webhook", "refused"),
    [
        ("", "", False, False),
        ("https://hooks.example.com/imports", "", None, True),
        (
            "https://hooks.example.com/imports",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-AbCdEf",
            True,
            False,
        ),
    ],
)
def test_a_webhook_url_without_an_api_key_secret_is_refused(template, url, secret, webhook, refused):
    parameters = parameter_values(template, WebhookUrl=url, WebhookApiKeySecretArn=secret)
    conditions = template["Conditions"]
    broken = [
        name
        for name, rule in template.get("Rules", {}).items()
        if evaluate(rule.get("RuleCondition", True), parameters, conditions)
        and not all(evaluate(a["Assert"], parameters, conditions) for a in rule["Assertions"])
    ]
    assert bool(broken) is refused
    if not refused:
        assert evaluate(conditions["HasWebhook"], parameters, conditions) is webhook
