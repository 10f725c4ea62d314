"""template.yaml: valid for SAM and cfn-lint, and its IAM grants are the narrow ones we intend."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from messaging.channels import registry
from messaging.feedback.parse import EUM_DELIVERED, EUM_UNDELIVERED

ROOT = Path(__file__).resolve().parents[1]
CHANNEL_FUNCTIONS = tuple(spec.function_id for spec in registry.specs())


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    template, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors
    return dict(template["Resources"])


def _resolved(value: Any, truths: dict[str, bool]) -> Any:
    """The value with each Fn::If decided by `truths` (a condition not named there is false)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition, then, otherwise = value["Fn::If"]
        return _resolved(then if truths.get(condition, False) else otherwise, truths)
    if isinstance(value, dict):
        return {key: _resolved(item, truths) for key, item in value.items()}
    if isinstance(value, list):
        items = [_resolved(item, truths) for item in value]
        return [item for item in items if item != {"Ref": "AWS::NoValue"}]
    return value


DEFAULTS = {"SmsThroughSns": True}  # the conditions under the parameters' defaults that grant anything


def _statements(function: dict[str, Any], truths: dict[str, bool] = DEFAULTS) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _resolved(function["Properties"].get("Policies", []), truths)
        if "Statement" in policy
        for statement in policy["Statement"]
    ]


def test_sam_validate_lint_passes() -> None:
    sam = os.environ.get("SAM_CLI", str(ROOT / ".venv-sam" / "bin" / "sam"))
    result = subprocess.run(
        [sam, "validate", "--lint", "--region", "us-east-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_send_function_may_invoke_exactly_the_channel_functions_and_the_dispatcher(
    resources: dict[str, Any],
) -> None:
    invokes = [s for s in _statements(resources["SendFunction"]) if "lambda:InvokeFunction" in str(s["Action"])]
    assert len(invokes) == 2
    assert invokes[0]["Resource"] == [{"Fn::GetAtt": [name, "Arn"]} for name in CHANNEL_FUNCTIONS]
    assert invokes[1]["Resource"] == {"Fn::GetAtt": ["DispatchFunction", "Arn"]}


def test_the_dispatcher_invokes_the_channel_functions_and_itself_and_gives_up_to_a_watched_queue(
    resources: dict[str, Any],
) -> None:
    dispatch = resources["DispatchFunction"]["Properties"]
    # No fixed name: it hands on to AWS_LAMBDA_FUNCTION_NAME (DispatchSelfInvokePolicy grants it).
    assert "FunctionName" not in dispatch
    assert dispatch["Environment"]["Variables"]["DISPATCH_FUNCTION_NAME"] == ""
    assert dispatch["Timeout"] == 900
    [invokes] = [s for s in _statements(resources["DispatchFunction"]) if "lambda:InvokeFunction" in str(s["Action"])]
    channels = len(CHANNEL_FUNCTIONS)
    assert invokes["Resource"][:channels] == [{"Fn::GetAtt": [name, "Arn"]} for name in CHANNEL_FUNCTIONS]
    assert invokes["Resource"][channels:] == []
    [itself] = resources["DispatchSelfInvokePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert itself["Resource"] == {"Fn::GetAtt": ["DispatchFunction", "Arn"]}
    config = dispatch["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["DispatchFailureQueue", "Arn"]},
    }
    mapping = resources["DispatchGaveUpMapping"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["DispatchFailureQueue", "Arn"]}
    assert (mapping["FunctionName"], mapping["BatchSize"]) == ({"Ref": "DispatchFunction"}, 1)
    # Read through a grant on that queue alone (SAM's SQS event would attach a managed policy on "*").
    assert "Events" not in dispatch
    [reads] = [s for s in _statements(resources["DispatchFunction"]) if "sqs:ReceiveMessage" in s["Action"]]
    assert reads["Resource"] == {"Fn::GetAtt": ["DispatchFailureQueue", "Arn"]}
    for alarm in ("DispatchGaveUpAlarm", "DispatchFailuresWaitingAlarm"):
        dimensions = resources[alarm]["Properties"]["Dimensions"]
        assert dimensions == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DispatchFailureQueue", "QueueName"]}}]
    # A record DispatchFunction keeps failing on leaves the queue after 5 tries, for a watched dead-letter queue.
    queue = resources["DispatchFailureQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DispatchFailureDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    dead_letters = resources["DispatchFailureDeadLetterQueue"]["Properties"]
    assert (dead_letters["SqsManagedSseEnabled"], dead_letters["MessageRetentionPeriod"]) == (True, 14 * 24 * 3600)
    alarm = resources["DispatchFailureDeadLettersAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DispatchFailureDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["MetricName"], alarm["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 0)
    assert alarm["AlarmActions"] == resources["DispatchGaveUpAlarm"]["Properties"]["AlarmActions"]
    table = resources["SendsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for name in ("SendFunction", "DispatchFunction"):
        [grant] = [s for s in _statements(resources[name]) if "dynamodb:Query" in s["Action"]]
        assert grant["Resource"] == {"Fn::GetAtt": ["SendsTable", "Arn"]}


def test_the_status_routes_have_the_same_auth_as_post_send(resources: dict[str, Any]) -> None:
    paths = resources["MessagingApi"]["Properties"]["DefinitionBody"]["paths"]
    for path, method in (
        ("/sends/{sendId}", "get"),
        ("/sends/{sendId}/failures", "get"),
        ("/sends/{sendId}", "delete"),
        ("/swagger", "get"),  # Swagger UI: never an open door
    ):
        assert paths[path][method]["security"] == paths["/send"]["post"]["security"]
        assert (
            paths[path][method]["x-amazon-apigateway-integration"]
            == paths["/send"]["post"]["x-amazon-apigateway-integration"]
        )


def test_schedules_invoke_only_the_dispatcher_and_send_function_manages_only_its_group(
    resources: dict[str, Any],
) -> None:
    role = resources["SchedulerRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    [policy] = role["Policies"]
    grants = {statement["Action"]: statement["Resource"] for statement in policy["PolicyDocument"]["Statement"]}
    assert grants == {
        "lambda:InvokeFunction": {"Fn::GetAtt": ["DispatchFunction", "Arn"]},
        "sqs:SendMessage": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]},
    }
    statements = _statements(resources["SendFunction"])
    [manage] = [s for s in statements if "scheduler:CreateSchedule" in s["Action"]]
    assert sorted(manage["Action"]) == ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"]
    assert "schedule/${SendsScheduleGroup}/*" in manage["Resource"]["Fn::Sub"]
    [pass_role] = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    env = resources["SendFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SCHEDULE_TARGET_ARN"] == {"Fn::GetAtt": ["DispatchFunction", "Arn"]}
    assert env["SCHEDULE_GROUP"] == {"Ref": "SendsScheduleGroup"}
    alarm = resources["ScheduleDeadLettersAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]}}
    ]


def test_channel_functions_cannot_invoke_functions_and_hold_only_their_providers_grant(
    resources: dict[str, Any],
) -> None:
    actions = {
        name: sorted(
            {
                action
                for s in _statements(resources[name])
                if s["Effect"] == "Allow"
                for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            }
        )
        for name in CHANNEL_FUNCTIONS
    }
    once = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]  # each batchId sent once
    assert actions == {
        "EmailFunction": sorted([*once, "s3:GetObject", "ses:SendEmail"]),  # SES v2 SendEmail, raw or not
        "SmsFunction": sorted([*once, "sns:Publish"]),
        "PushFunction": once,
        "VoiceFunction": once,  # nothing to send from until VoiceOriginationIdentityArn is given
    }
    for name in CHANNEL_FUNCTIONS:
        [record] = [s for s in _statements(resources[name]) if "dynamodb:PutItem" in s["Action"]]
        assert record["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
        assert resources[name]["Properties"]["Environment"]["Variables"]["IDEMPOTENCY_TABLE"] == {
            "Ref": "IdempotencyTable"
        }
    assert resources["EmailFunction"]["Properties"]["Policies"][0]["Statement"][0]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SesIdentity}"},
        # SES authorises the configuration set every message names too.
        {
            "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:"
            "configuration-set/${EmailConfigurationSet}"
        },
    ]


def test_attachments_bucket_is_private_encrypted_and_outlives_the_sends_it_serves(resources: dict[str, Any]) -> None:
    bucket = resources["AttachmentsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    rules = {rule["Prefix"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    # An asynchronous send reads its request, segments and attachments while it runs, and its records
    # live SENDS_TTL_DAYS: the objects must outlive them. Every prefix the code writes expires.
    ttl_days = int(resources["DispatchFunction"]["Properties"]["Environment"]["Variables"].get("SENDS_TTL_DAYS", 7))
    assert set(rules) == {"attachments/", "sends/", "answers/", "scheduled/"}
    for rule in rules.values():
        assert rule["Status"] == "Enabled"
        assert rule["ExpirationInDays"] > ttl_days
    # A scheduled send's objects wait for its sendAt (SCHEDULE_MAX_DAYS ahead at most), then it runs.
    max_days = int(resources["SendFunction"]["Properties"]["Environment"]["Variables"]["SCHEDULE_MAX_DAYS"])
    assert rules["scheduled/"]["ExpirationInDays"] > max_days + ttl_days


def test_every_function_declares_the_endpoint_variables_local_runs_override(resources: dict[str, Any]) -> None:
    send_env = resources["SendFunction"]["Properties"]["Environment"]["Variables"]
    assert send_env["AWS_ENDPOINT_URL_LAMBDA"] == ""
    assert send_env["MONGODB_URI"] == ""
    assert resources["PushFunction"]["Properties"]["Environment"]["Variables"]["FCM_TOKEN_URI"] == ""


def test_alarms_watch_the_metrics_the_code_publishes_for_every_channel(resources: dict[str, Any]) -> None:
    # One alarm per channel: a channel added is one alarm added, never past CloudWatch's 10 metrics.
    for channel in registry.REGISTRY:
        alarm = resources[f"{channel.capitalize()}FailureRateAlarm"]["Properties"]
        metrics = {query["Id"]: query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query}
        assert {
            query_id: (metric["MetricName"], {d["Name"]: d["Value"] for d in metric["Dimensions"]}["channel"])
            for query_id, metric in metrics.items()
        } == {"failed": ("MessagesFailed", channel), "sent": ("MessagesSent", channel)}
        assert all(m["Namespace"] == "Messaging" for m in metrics.values())
        assert all({d["Name"] for d in m["Dimensions"]} == {"service", "channel"} for m in metrics.values())
        [rate] = [query for query in alarm["Metrics"] if query.get("ReturnData")]
        assert "FILL(failed, 0) / (" in rate["Expression"]
        assert alarm["Threshold"] == {"Ref": "FailureRateThreshold"}
    assert {"FunctionErrorsAlarm", "FunctionThrottlesAlarm", "SendDurationNearTimeoutAlarm"} <= set(resources)
    for name in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm"):
        watched = {
            query["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
            for query in resources[name]["Properties"]["Metrics"]
            if "MetricStat" in query
        }
        # Every function of the stack, so one added later cannot fail unseen.
        functions = {key for key, value in resources.items() if value["Type"] == "AWS::Serverless::Function"}
        assert watched == functions
        assert {"SendFunction", "IntakeFunction", *CHANNEL_FUNCTIONS} <= functions


def test_end_user_messaging_grants_name_the_origination_identity_only(resources: dict[str, Any]) -> None:
    eum = {"SmsThroughEum": True, "HasVoiceIdentity": True}
    [sms] = [s for s in _statements(resources["SmsFunction"], eum) if "sms-voice" in str(s["Action"])]
    # Without a configuration set of the deployer's, the stack's own (its events reach FeedbackFunction).
    own = {"Fn::GetAtt": ["EumConfigurationSet", "Arn"]}
    assert (sms["Action"], sms["Resource"]) == (
        "sms-voice:SendTextMessage",
        [{"Ref": "SmsOriginationIdentityArn"}, own],
    )
    assert not [s for s in _statements(resources["SmsFunction"], eum) if "sns:" in str(s["Action"])]
    [voice] = [s for s in _statements(resources["VoiceFunction"], eum) if "sms-voice" in str(s["Action"])]
    assert (voice["Action"], voice["Resource"]) == (
        "sms-voice:SendVoiceMessage",
        [{"Ref": "VoiceOriginationIdentityArn"}, own],
    )
    with_set = _statements(resources["VoiceFunction"], {**eum, "HasVoiceConfigurationSet": True})
    assert [s["Resource"][1] for s in with_set if "sms-voice" in str(s["Action"])] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:"
            "configuration-set/${VoiceConfigurationSet}"
        }
    ]
    variables = resources["VoiceFunction"]["Properties"]["Environment"]["Variables"]
    # With an identity the function sends from it; with `none` from the batch's sender.voice (no grant).
    assert _resolved(variables["VOICE_ORIGINATION_IDENTITY"], eum) == {"Ref": "VoiceOriginationIdentityArn"}
    assert resources["SendFunction"]["Properties"]["Environment"]["Variables"]["VOICE_FUNCTION_NAME"] == {
        "Ref": "VoiceFunction"
    }


def test_delivery_events_reach_the_feedback_function_from_ses_and_end_user_messaging(
    resources: dict[str, Any],
) -> None:
    topic = {"Ref": "DeliveryEventsTopic"}
    email_set = resources["EmailConfigurationSet"]["Properties"]
    # SES's suppression list is never bypassed.
    assert email_set["SuppressionOptions"]["SuppressedReasons"] == ["BOUNCE", "COMPLAINT"]
    destination = resources["EmailEventsDestination"]["Properties"]
    assert destination["ConfigurationSetName"] == {"Ref": "EmailConfigurationSet"}
    assert destination["EventDestination"]["SnsDestination"] == {"TopicARN": topic}
    # What FeedbackFunction records: send and deliveryDelay are progress it ignores.
    assert set(destination["EventDestination"]["MatchingEventTypes"]) == {
        "delivery",
        "bounce",
        "complaint",
        "reject",
        "renderingFailure",
        "subscription",
    }
    assert resources["EmailFunction"]["Properties"]["Environment"]["Variables"]["SES_CONFIGURATION_SET"] == {
        "Ref": "EmailConfigurationSet"
    }
    [eum] = resources["EumConfigurationSet"]["Properties"]["EventDestinations"]
    assert (eum["SnsDestination"], set(eum["MatchingEventTypes"])) == (
        {"TopicArn": topic},
        set(EUM_DELIVERED | EUM_UNDELIVERED),  # the final outcomes FeedbackFunction records
    )
    for function, variable, parameter in (
        ("SmsFunction", "SMS_CONFIGURATION_SET", "SmsConfigurationSet"),
        ("VoiceFunction", "VOICE_CONFIGURATION_SET", "VoiceConfigurationSet"),
    ):
        value = resources[function]["Properties"]["Environment"]["Variables"][variable]
        own = "OwnSmsConfigurationSet" if function == "SmsFunction" else "OwnVoiceConfigurationSet"
        assert _resolved(value, {f"Has{parameter}": True}) == {"Ref": parameter}
        assert _resolved(value, {own: True}) == {"Ref": "EumConfigurationSet"}
    ses, eum_publish = [
        s
        for s in resources["DeliveryEventsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    account = {"Ref": "AWS::AccountId"}
    # Only the stack's own SES configuration set: another set of the account could opt users out.
    assert ses["Principal"] == {"Service": "ses.amazonaws.com"}
    assert ses["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": account,
            "aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:"
                "configuration-set/${EmailConfigurationSet}"
            },
        }
    }
    assert eum_publish["Principal"] == {"Service": "sms-voice.amazonaws.com"}
    assert eum_publish["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    assert eum_publish["Condition"]["ArnLike"] == {
        "aws:SourceArn": {
            "Fn::Sub": "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:configuration-set/*"
        }
    }
    feedback = resources["FeedbackFunction"]["Properties"]
    assert feedback["Events"]["DeliveryEvents"] == {"Type": "SNS", "Properties": {"Topic": topic}}
    [grant] = _statements(resources["FeedbackFunction"])
    assert grant["Resource"] == {"Fn::GetAtt": ["SendsTable", "Arn"]}
    # Exactly what record_event's transactions do: a bounce deletes the same message's delivery marker.
    assert set(grant["Action"]) == {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
    }
    assert feedback["Environment"]["Variables"]["SENDS_TABLE"] == {"Ref": "SendsTable"}


def test_the_api_is_never_anonymous(resources: dict[str, Any]) -> None:
    post = resources["MessagingApi"]["Properties"]["DefinitionBody"]["paths"]["/send"]["post"]
    # SigV4 unless ApiAuth=API_KEY, and then a key with its usage plan: no branch is open.
    assert post["security"] == {"Fn::If": ["UseApiKey", [{"api_key": []}], [{"sigv4": []}]]}
    schemes = resources["MessagingApi"]["Properties"]["DefinitionBody"]["components"]["securitySchemes"]
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert (schemes["api_key"]["name"], schemes["api_key"]["in"]) == ("x-api-key", "header")
    for name in ("MessagingApiKey", "MessagingUsagePlan", "MessagingUsagePlanKey"):
        assert resources[name]["Condition"] == "UseApiKey"
    plan = resources["MessagingUsagePlan"]["Properties"]
    assert (plan["Throttle"]["RateLimit"], plan["Quota"]["Period"]) == ({"Ref": "ApiRateLimit"}, "DAY")
    assert "Auth" not in resources["SendFunction"]["Properties"]["Events"]["Send"]["Properties"]


def test_checkov_passes_and_every_skip_says_why(resources: dict[str, Any]) -> None:
    checkov = os.environ.get("CHECKOV", str(ROOT / ".venv-checkov" / "bin" / "checkov"))
    result = subprocess.run(
        [checkov, "-f", "template.yaml", "--framework", "cloudformation", "--compact"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Failed checks: 0" in result.stdout
    skips = [
        skip
        for resource in resources.values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    assert all(len(skip.get("comment", "")) > 20 for skip in skips)


def test_the_dashboard_shows_only_metrics_the_code_publishes_for_every_channel(resources: dict[str, Any]) -> None:
    import json
    import re

    body = resources["OperatorDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # Substitutions become plain names: the rest must be the JSON CloudWatch reads.
    widgets = json.loads(re.sub(r"\$\{([^}]+)\}", lambda match: match.group(1).replace('"', ""), body))["widgets"]
    shown: dict[str, set[str]] = {}
    for widget in widgets:
        for row in widget["properties"].get("metrics", []):
            namespace, name, *dimensions = row
            if namespace == "Messaging":
                pairs = dict(zip(dimensions[0:-1:2], dimensions[1::2], strict=True))
                assert pairs.get("service") == "messaging", row
                shown.setdefault(name, set()).add(pairs.get("channel", ""))
    source = "\n".join(
        path.read_text()
        for folder in ("layers/common/messaging", "functions")
        for path in (ROOT / folder).rglob("*.py")
    )
    unpublished = sorted(name for name in shown if f'"{name}"' not in source)
    assert not unpublished, f"the dashboard shows metrics no code publishes: {unpublished}"
    for name in ("MessagesSent", "MessagesFailed", "MessagesSkipped", "MessagesDelivered", "ProviderLatency"):
        assert shown[name] >= set(registry.REGISTRY), name
    assert {"MessagesBounced", "MessagesComplained", "AsyncMessagesPlanned", "AsyncMessagesHandled"} <= set(shown)
    assert {"SendsScheduled", "SendsCancelled", "LifecycleEventsGivenUp"} <= set(shown)
    # Lambda's throttles of every function of the stack are on one widget.
    functions = {key for key, value in resources.items() if value["Type"] == "AWS::Serverless::Function"}
    assert {f"Lambda {name}" for name in functions} <= {
        row[-1].get("label") for widget in widgets for row in widget["properties"].get("metrics", [])
    }


def test_send_function_knows_its_own_timeout(resources: dict[str, Any]) -> None:
    """GET /sends/{sendId} ends a synchronous send still open past it (issue 21): the two must agree."""
    send = resources["SendFunction"]["Properties"]
    assert int(send["Environment"]["Variables"]["SEND_TIMEOUT_S"]) == send["Timeout"]


def test_the_accepting_functions_may_read_ses_identities_and_send_no_email(resources: dict[str, Any]) -> None:
    """An unverified e-mail sender is refused at acceptance (GetEmailIdentity), by both entry points."""
    for name in ("SendFunction", "IntakeFunction"):
        ses = [s for s in _statements(resources[name]) if any(str(a).startswith("ses:") for a in _list(s["Action"]))]
        assert [(s["Action"], s["Resource"]) for s in ses] == [
            (
                "ses:GetEmailIdentity",
                {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"},
            )
        ]
        assert resources[name]["Properties"]["Environment"]["Variables"]["AWS_ENDPOINT_URL_SESV2"] == ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_swagger_ui_is_switched_by_its_parameter(resources: dict[str, Any]) -> None:
    send = resources["SendFunction"]["Properties"]
    assert send["Environment"]["Variables"]["SWAGGER_UI"] == {"Ref": "SwaggerUi"}
    assert send["Events"]["SwaggerUi"]["Properties"] == {
        "RestApiId": {"Ref": "MessagingApi"},
        "Path": "/swagger",
        "Method": "get",
    }
