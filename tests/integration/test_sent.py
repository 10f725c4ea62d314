"""`make sent` (local/sent.py): what the providers received, per channel, read back from moto and the
stand-ins after a real send through SendFunction and the channel functions."""

from __future__ import annotations

from typing import Any

from local.sent import collect, render
from tests.conftest import ApiCall, Servers


def test_make_sent_lists_each_channels_messages_newest_last_with_each_address_once(
    api: ApiCall, servers: Servers, db: Any
) -> None:
    servers.files.files["checklist.txt"] = b"bring your card"
    body = {
        "channels": ["email", "sms", "push", "voice"],
        "recipients": ["u1"],
        "messageTitle": "Visit for {{user.name}}",
        "messageContent": "<p>Hello {{user.name}},</p><p>see you on Monday</p>",
        "emailAttachments": ["checklist.txt"],
        "emailCarbonCopies": ["desk@example.com"],
        "emailBlindCarbonCopies": ["archive@example.com"],
    }
    status, answer = api(body)
    assert (status, answer) == (200, {"failures": []})
    status, answer = api({**body, "channels": ["email", "sms"], "messageTitle": "Later", "emailAttachments": []})
    assert (status, answer) == (200, {"failures": []})

    sent = collect(servers.outbox.endpoint, servers.fcm.url, servers.eum.url)

    # A plain e-mail (moto's ses.Message) comes before those with attachments (ses.RawMessage).
    assert sent["e-mail"][-2].startswith("from noreply@example.com  to ann@example.com  cc desk@example.com")
    assert sent["e-mail"][-2].endswith("| Later | Hello Ann,")
    assert sent["e-mail"][-1] == (
        "from noreply@example.com  to ann@example.com  cc desk@example.com  bcc archive@example.com"
        "  | Visit for Ann | Hello Ann,  [attached: checklist.txt]"
    )
    assert sent["SMS"][-2:] == ["+393330000001  (SNS)  Hello Ann,", "+393330000001  (SNS)  Hello Ann,"]
    assert sent["push"][-1] == "tok-ann  | Visit for Ann | Hello Ann,"
    assert sent["voice"][-1].startswith("+393330000001  ")
    assert sent["voice"][-1].endswith("Hello Ann,")

    shown = render(sent, last=1).splitlines()
    assert shown[0] == f"e-mail: {len(sent['e-mail'])}, the last 1 shown"
    assert shown[1] == "  " + sent["e-mail"][-1]
    assert [line.split(":")[0] for line in shown if not line.startswith(" ")] == ["e-mail", "SMS", "push", "voice"]
