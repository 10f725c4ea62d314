"""template.yaml as CloudFormation receives it: SAM's transform (samtranslator, run with the SAM CLI's
Python: the dev venv does not carry it) and assertions on what it generates, for a real account."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run by the SAM CLI's interpreter: the transform `sam deploy` applies, with local code locations
# replaced by S3 ones (as `sam package` does) and no call to AWS (no managed policy is looked up).
TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoLookups:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    properties = resource.get("Properties", {})
    for key in ("CodeUri", "ContentUri"):
        if isinstance(properties.get(key), str):
            properties[key] = "s3://bucket/" + properties[key].strip("/")
print(json.dumps(transform(template, json.loads(sys.argv[2]), NoLookups())))
"""


def _sam_python() -> str:
    sam = Path(os.environ.get("SAM_CLI", str(ROOT / ".venv-sam" / "bin" / "sam")))
    return str(sam.parent / "python")


def transformed(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run(
        [_sam_python(), "-c", TRANSFORM, str(ROOT / "template.yaml"), json.dumps(parameters or {})],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transformed()


def _of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in cfn["Resources"].items() if resource["Type"] == kind}


def test_the_dispatcher_may_hand_itself_on_and_a_dropped_recursion_is_alarmed(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    # Lambda's loop detection would stop a paced send at about the 16th hand-on.
    assert resources["DispatchFunction"]["Properties"]["RecursiveLoop"] == "Allow"
    others = {
        name
        for name, function in _of_type(cfn, "AWS::Lambda::Function").items()
        if function["Properties"].get("RecursiveLoop", "Terminate") != "Terminate"
    }
    assert others == {"DispatchFunction"}
    alarm = resources["RecursiveInvocationsDroppedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == (
        "AWS/Lambda",
        "RecursiveInvocationsDropped",
        0,
    )
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "DispatchFunction"}}]


def test_every_stack_update_deploys_the_api_and_v1_is_its_only_stage(cfn: dict[str, Any]) -> None:
    api = cfn["Resources"]["MessagingApi"]
    assert api["Type"] == "AWS::ApiGateway::RestApi"
    [deployment] = _of_type(cfn, "AWS::ApiGateway::Deployment")
    # AlwaysDeploy: a new deployment (a new logical id) on every transform, so switching ApiAuth,
    # an Fn::If inside the body, reaches the stage.
    assert deployment not in _of_type(transformed(), "AWS::ApiGateway::Deployment")
    # No deployment-made stage named `Stage` beside v1 (OpenApiVersion set).
    assert "StageName" not in cfn["Resources"][deployment]["Properties"]
    stages = _of_type(cfn, "AWS::ApiGateway::Stage")
    assert [stage["Properties"]["StageName"] for stage in stages.values()] == ["v1"]
    assert api["Properties"]["Body"]["openapi"] == "3.0.1"


def _template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    template, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors
    return dict(template)


def test_values_only_the_deployer_knows_have_no_default_and_the_local_stack_passes_them() -> None:
    from local.stack_env import PARAMETERS, parameter_overrides

    parameters = _template()["Parameters"]
    required = {name for name, parameter in parameters.items() if "Default" not in parameter}
    assert required == {
        "ServiceConfig",
        "MongoUriSecretArn",
        "SesIdentity",
        "FcmCredentialsSecretArn",
        "VoiceOriginationIdentityArn",
        "SesSubscriptionManagement",  # SES allows one contact list per account and region
    }
    assert set(PARAMETERS) == required
    # What `sam local` reads back from --parameter-overrides is exactly what make start meant.
    parse = "import sys, json; from samcli.cli.types import CfnParameterOverridesType as T; "
    parse += "print(json.dumps(T().convert(sys.argv[1], None, None)))"
    result = subprocess.run(
        [_sam_python(), "-c", parse, parameter_overrides(PARAMETERS)], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == PARAMETERS


def test_rules_refuse_deploys_that_would_fail_every_message(cfn: dict[str, Any]) -> None:
    rules = cfn["Rules"]
    sms = rules["EndUserMessagingSmsNeedsAnIdentity"]
    assert sms["RuleCondition"] == {"Fn::Equals": [{"Ref": "SmsProvider"}, "end-user-messaging"]}
    assert sms["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SmsOriginationIdentityArn"}, ""]}]}
    [ses] = rules["SesIdentityIsNotTheExample"]["Assertions"]
    assert {"Ref": "SesIdentity"} in ses["Assert"]["Fn::Not"][0]["Fn::Contains"]
    assert "VoiceSettingsNeedAVoiceIdentity" in rules
    # Secrets are named by full ARN: a partial one would not match the grant.
    parameters = _template()["Parameters"]
    for name in ("MongoUriSecretArn", "FcmCredentialsSecretArn"):
        assert parameters[name]["AllowedPattern"].endswith(r"-[A-Za-z0-9]{6})$") or parameters[name][
            "AllowedPattern"
        ].endswith(r"-[A-Za-z0-9]{6}$")
    # `none` is how a deployer says a channel is not used; the functions then get an empty value.
    variables = cfn["Resources"]["VoiceFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["VOICE_ORIGINATION_IDENTITY"] == {
        "Fn::If": ["HasVoiceIdentity", {"Ref": "VoiceOriginationIdentityArn"}, ""]
    }


def test_every_queue_events_end_in_is_alarmed_and_lost_events_too(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    # SAM's on-failure destination of FeedbackFunction: a complaint's opt-out is never dropped silently.
    [config] = [
        r["Properties"]
        for r in _of_type(cfn, "AWS::Lambda::EventInvokeConfig").values()
        if r["Properties"]["FunctionName"] == {"Ref": "FeedbackFunction"}
    ]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FeedbackFailureQueue", "Arn"]}
    alarms = _of_type(cfn, "AWS::CloudWatch::Alarm").values()
    watched_queues = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in alarms
        if alarm["Properties"].get("Namespace") == "AWS/SQS"
    }
    assert watched_queues == set(_of_type(cfn, "AWS::SQS::Queue"))
    lost = {
        (query["MetricStat"]["Metric"]["MetricName"], query["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"])
        for query in resources["AsyncEventsLostAlarm"]["Properties"]["Metrics"]
        if "MetricStat" in query
    }
    assert lost == {
        (metric, function)
        for metric in ("AsyncEventsDropped", "DestinationDeliveryFailures")
        for function in ("DispatchFunction", "FeedbackFunction")
    }


def test_no_resource_has_a_fixed_physical_name(cfn: dict[str, Any]) -> None:
    names = {"FunctionName", "ContactListName", "DashboardName", "QueueName", "TableName", "BucketName", "TopicName"}
    # A name made up here (a string, an Fn::Sub), not a reference to another resource's name.
    fixed = {
        (logical_id, key)
        for logical_id, resource in cfn["Resources"].items()
        for key, value in resource.get("Properties", {}).items()
        if key in names and not (isinstance(value, dict) and {"Ref", "Fn::GetAtt"} & set(value))
    }
    assert fixed == set()
    dispatch = cfn["Resources"]["DispatchFunction"]["Properties"]
    # It hands on to itself under AWS_LAMBDA_FUNCTION_NAME; the grant names its ARN, in a policy of its own.
    assert dispatch["Environment"]["Variables"]["DISPATCH_FUNCTION_NAME"] == ""
    policy = cfn["Resources"]["DispatchSelfInvokePolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "DispatchFunctionRole"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == (
        "lambda:InvokeFunction",
        {"Fn::GetAtt": ["DispatchFunction", "Arn"]},
    )


def test_deleting_the_stack_does_not_fail_on_staged_attachments(cfn: dict[str, Any]) -> None:
    # A non-empty bucket cannot be deleted: the stack leaves it (its objects expire) rather than fail.
    for name in _of_type(cfn, "AWS::S3::Bucket"):
        bucket = cfn["Resources"][name]
        assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
        assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] <= 8


def test_grants_are_scoped_to_what_the_code_calls(cfn: dict[str, Any]) -> None:
    roles = _of_type(cfn, "AWS::IAM::Role")
    # No managed policy beyond logs and traces (SAM's SQS event would add AWSLambdaSQSQueueExecutionRole).
    managed = {
        arn.rsplit("/", 1)[-1] for role in roles.values() for arn in role["Properties"].get("ManagedPolicyArns", [])
    }
    assert managed == {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
    documents = json.dumps(cfn["Resources"])
    assert "ses:SendRawEmail" not in documents  # SES v2 SendEmail sends raw content too
    assert "contact-list/" not in documents  # SendEmail is not authorised on contact lists
    parameters = _template()["Parameters"]
    for name in ("SmsConfigurationSet", "VoiceConfigurationSet"):
        assert parameters[name]["AllowedPattern"] == "^[A-Za-z0-9_-]{0,64}$"  # a name: an ARN builds a wrong grant
    # kms:Decrypt of a customer-managed key (SecretsKmsKeyArn), through Secrets Manager only, for
    # every function that reads a secret.
    for function in ("SendFunction", "DispatchFunction", "PushFunction", "FeedbackFunction"):
        role = json.dumps(roles[f"{function}Role"]["Properties"]["Policies"])
        assert all(part in role for part in ('"kms:Decrypt"', '"kms:ViaService"', "HasSecretsKey")), function


def test_the_gave_up_queue_hides_a_record_six_times_the_dispatchers_timeout(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    timeout = resources["DispatchFunction"]["Properties"]["Timeout"]
    assert resources["DispatchFailureQueue"]["Properties"]["VisibilityTimeout"] == 6 * timeout


def test_no_alarm_nears_cloudwatchs_ten_metrics_and_each_channel_has_its_failure_rate(cfn: dict[str, Any]) -> None:
    from messaging.channels import registry

    alarms = _of_type(cfn, "AWS::CloudWatch::Alarm")
    assert all(len(alarm["Properties"].get("Metrics", [])) <= 10 for alarm in alarms.values())
    assert {f"{channel.capitalize()}FailureRateAlarm" for channel in registry.REGISTRY} <= set(alarms)


def test_the_template_lints_in_every_region_the_docs_list() -> None:
    import re

    from cfnlint.decode import decode_str

    config, errors = decode_str((ROOT / ".cfnlintrc.yaml").read_text())
    assert not errors
    regions = list(config["regions"])
    doc = (ROOT / "docs" / "first-deploy.md").read_text()
    listed = re.search(r"<!-- regions:.*?-->(.*?)<!-- /regions -->", doc, re.S)
    assert listed is not None
    assert [region.strip() for region in listed.group(1).split(",")] == regions
    cfn_lint = str(Path(_sam_python()).parent / "cfn-lint")  # reads .cfnlintrc.yaml: every region
    result = subprocess.run([cfn_lint], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
