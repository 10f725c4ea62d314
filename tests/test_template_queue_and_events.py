"""template.yaml's intake queue, lifecycle events and webhook: what is made, under which
condition, and the narrow grants (cfn-lint and checkov run over the whole template in
tests/test_template.py)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from cfnlint.decode import decode_str

from messaging.sends.lifecycle import DETAIL_TYPES, REFUSED, REQUESTED
from tests.test_template import DEFAULTS, ROOT, _resolved, _statements

EVENTBRIDGE_ID = boto3.client("events", region_name="us-east-1").meta.service_model.service_id.upper()
BUS_ARN = {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors
    return dict(decoded)


def test_the_intake_queue_is_encrypted_dead_letters_after_5_receives_and_is_alarmed(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue = resources["SendRequestsQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SendRequestsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert resources["SendRequestsDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    # A message is invisible longer than IntakeFunction may take with it.
    assert queue["VisibilityTimeout"] >= 6 * resources["IntakeFunction"]["Properties"]["Timeout"]
    alarm = resources["SendRequestsDeadLettersAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["SendRequestsDeadLetterQueue", "QueueName"]}
    assert template["Outputs"]["SendRequestsQueue"]["Value"] == {"Ref": "SendRequestsQueue"}
    # Plain HTTP refused; EventBridge may send only through the Send Requested rule, when it exists.
    policy = resources["SendRequestsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in _resolved(policy, {})] == ["RefusePlainHttp"]
    [deny, forward] = _resolved(policy, {"HasSendRequestsBus": True})
    assert deny["Effect"] == "Deny"
    assert forward["Principal"] == {"Service": "events.amazonaws.com"}
    assert forward["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["SendRequestsRule", "Arn"]}


def test_the_consumer_reports_batch_item_failures_and_holds_only_its_grants(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    mapping = resources["IntakeMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["SendRequestsQueue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": "IntakeFunction"}
    statements = {s["Sid"]: s for s in _statements(resources["IntakeFunction"], DEFAULTS)}
    assert statements["ReadTheIntakeQueueOnly"]["Resource"] == {"Fn::GetAtt": ["SendRequestsQueue", "Arn"]}
    # Lambda's event source mapping needs these three on the queue, nothing else.
    queue_actions = [s["Action"] for s in statements.values() if "sqs:" in str(s["Action"])]
    assert queue_actions == [["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]]
    # It starts sends (the dispatcher), never sends itself (no channel function, no provider).
    invokes = [s["Resource"] for s in statements.values() if "lambda:InvokeFunction" in str(s["Action"])]
    assert invokes == [{"Fn::GetAtt": ["DispatchFunction", "Arn"]}]
    assert not [s for s in statements.values() if any(p in str(s["Action"]) for p in ("sns:", "sms-voice:"))]
    # Of SES it only reads identities (an unverified sender is refused at acceptance).
    assert [s["Action"] for s in statements.values() if "ses:" in str(s["Action"])] == ["ses:GetEmailIdentity"]
    assert all(s["Resource"] != "*" for s in statements.values())


def test_every_function_that_moves_a_send_may_put_events_on_the_one_bus_only(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for name in ("SendFunction", "DispatchFunction", "IntakeFunction"):
        puts = [s for s in _statements(resources[name], DEFAULTS) if "events:" in str(s["Action"])]
        assert [(s["Action"], s["Resource"]) for s in puts] == [("events:PutEvents", BUS_ARN)], name
        env = resources[name]["Properties"]["Environment"]["Variables"]
        assert (env["EVENT_BUS_NAME"], env["EVENT_SOURCE"]) == ({"Ref": "EventBusName"}, {"Ref": "EventSource"})
        # What local runs point at moto: the variable boto3 reads for EventBridge (by its service id).
        assert env[f"AWS_ENDPOINT_URL_{EVENTBRIDGE_ID}"] == ""
    assert template["Parameters"]["EventBusName"]["Default"] == "default"
    alarm = resources["LifecycleEventsGivenUpAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Messaging", "LifecycleEventsGivenUp")


def test_send_requested_events_are_forwarded_as_their_detail_when_a_bus_is_named(template: dict[str, Any]) -> None:
    rule = template["Resources"]["SendRequestsRule"]
    assert rule["Condition"] == "HasSendRequestsBus"
    assert rule["Properties"]["EventPattern"] == {"detail-type": [REQUESTED]}
    [target] = rule["Properties"]["Targets"]
    assert (target["Arn"], target["InputPath"]) == ({"Fn::GetAtt": ["SendRequestsQueue", "Arn"]}, "$.detail")


def test_the_webhook_exists_only_with_its_url_and_retries_into_an_alarmed_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    assert template["Conditions"]["HasStatusWebhook"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "StatusWebhookUrl"}, ""]}]
    }
    webhook = [name for name, resource in resources.items() if resource.get("Condition") == "HasStatusWebhook"]
    assert set(webhook) == {
        "StatusWebhookConnection",
        "StatusWebhookDestination",
        "StatusWebhookRole",
        "StatusWebhookRule",
        "StatusWebhookDeadLetterQueue",
        "StatusWebhookDeadLetterQueuePolicy",
        "StatusWebhookDeadLettersAlarm",
    }
    connection = resources["StatusWebhookConnection"]["Properties"]
    assert connection["AuthorizationType"] == "API_KEY"
    assert (
        "resolve:secretsmanager:${StatusWebhookApiKeySecretArn}"
        in connection["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyValue"]["Fn::Sub"]
    )
    rule = resources["StatusWebhookRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "EventBusName"}
    assert set(rule["EventPattern"]["detail-type"]) == {*DETAIL_TYPES.values(), REFUSED}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["StatusWebhookDestination", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["StatusWebhookDeadLetterQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    [invoke] = resources["StatusWebhookRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert (invoke["Action"], invoke["Resource"]) == (
        "events:InvokeApiDestination",
        {"Fn::GetAtt": ["StatusWebhookDestination", "Arn"]},
    )
    # A webhook without its key is refused before anything is created.
    assert "StatusWebhookNeedsItsApiKey" in template["Rules"]
