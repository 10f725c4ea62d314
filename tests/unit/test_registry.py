"""The channel registry: every place that lists channels agrees with it, and each channel's
configuration is checked by its own spec."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from messaging.channels import registry
from messaging.errors import ConfigurationError
from messaging.models.common import CHANNELS
from messaging.models.config import ServiceConfig
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.models.template import MessageTemplate

ROOT = Path(__file__).resolve().parents[2]
MESSAGING = ROOT / "layers" / "common" / "messaging"


def test_the_channel_literal_is_the_registry() -> None:
    assert CHANNELS == tuple(registry.REGISTRY) == ("email", "sms", "push", "voice")
    schema = SendRequest.model_json_schema()
    assert schema["properties"]["channels"]["items"]["enum"] == list(registry.REGISTRY)


def test_each_channel_has_its_function_folder_and_sample_event() -> None:
    for spec in registry.specs():
        assert (ROOT / "functions" / spec.name / "app.py").is_file()
        event = json.loads((ROOT / "events" / f"{spec.name}.json").read_text())
        spec.batch_model.model_validate(event)


def test_template_and_user_fields_come_from_the_specs() -> None:
    fields = set(MessageTemplate.model_fields)
    assert {"name", "strict", "voiceMessage", "smsMessage", "pushData", "emailAttachments"} <= fields
    assert registry.user_fields() == {"emailAddress": True, "phoneNumber": True, "deviceToken": False}
    config = ServiceConfig.model_validate({"activeChannels": ["voice"], "sender": {"voice": "pool-0123abcd"}})
    assert config.userFields.address("phoneNumber") == "phoneNumber"


@pytest.mark.parametrize(
    ("sender", "problem"),
    [
        ({}, "SERVICE_CONFIG: sender.voice is required when voice is active"),
        ({"voice": "ACME"}, "SERVICE_CONFIG.sender.voice: Value error, must be an E.164 origination number"),
    ],
)
def test_sender_voice_is_required_and_checked_when_voice_is_active(sender: dict[str, str], problem: str) -> None:
    environ = {"SERVICE_CONFIG": json.dumps({"activeChannels": ["voice"], "sender": sender}), "MONGODB_URI": "x"}
    with pytest.raises(ConfigurationError, match="^invalid configuration: " + problem.replace(".", r"\.")):
        SendSettings.from_environ({**environ, "VOICE_FUNCTION_NAME": "v"})


def test_voice_settings_need_its_function() -> None:
    config = {"activeChannels": ["voice"], "sender": {"voice": "+15550001111"}}
    environ = {"SERVICE_CONFIG": json.dumps(config), "MONGODB_URI": "x"}
    with pytest.raises(ConfigurationError, match="VOICE_FUNCTION_NAME is required when voice is active"):
        SendSettings.from_environ(environ)
    assert SendSettings.from_environ({**environ, "VOICE_FUNCTION_NAME": "v"}).function_name("voice") == "v"


def test_observability_imports_only_models_not_even_for_the_type_checker() -> None:
    tree = ast.parse((MESSAGING / "observability.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {name for name in imported if name.startswith("messaging.")} <= {
        "messaging.models.common",
        "messaging.models.response",
    }


def test_texts_survive_json_for_another_invocation_to_render() -> None:
    from bson import ObjectId

    from messaging.templates.compose import texts_from_json, texts_from_template, texts_json

    template = MessageTemplate.model_validate(
        {
            "emailTitle": "T {{user.name}}",
            "emailHtmlMessage": "<p>{{x}}</p>",
            "smsMessage": "S",
            "pushTitle": "P",
            "pushMessage": "M",
            "pushData": {"a": "{{data.a}}", "android": {"priority": "high"}},
            "voiceMessage": "V",
            "strict": True,
        }
    )
    texts = texts_from_template(template, str(ObjectId()), list(registry.REGISTRY))
    assert texts_from_json(json.loads(json.dumps(texts_json(texts)))) == texts
