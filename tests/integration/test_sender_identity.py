"""An e-mail sender SES has not verified is refused at acceptance (issue 26, item 7): a 400 naming
`emailSender` and nothing sent, synchronously, asynchronously and from the intake queue; an address
at a verified domain goes; an outage of the check never blocks a send."""

from __future__ import annotations

from types import ModuleType

import boto3
import pytest

from local.servers import free_port
from messaging import sender_identity
from messaging.sender_identity import SenderIdentities
from tests.conftest import SENDER, ApiCall, Servers
from tests.integration.async_sends import ASYNC, Async
from tests.integration.test_queue_and_events import GOOD, Events, _deliver, _record, _sent_ids, events, intake

__all__ = ["events", "intake"]

BODY = {"channels": ["email", "sms"], "recipients": ["u1", "u2"], "messageTitle": "t", "messageContent": "c"}
REFUSED = "emailSender: not a verified SES identity, nor at a verified domain; nothing was sent"


@pytest.fixture
def fresh_check(functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch) -> SenderIdentities:
    """SendFunction with a cold container's check: no answer cached by an earlier test."""
    identities = SenderIdentities.connect()
    monkeypatch.setattr(functions["send"].parts, "identities", identities)
    return identities


@pytest.mark.parametrize("prefer", [{}, ASYNC], ids=["sync", "async"])
def test_an_unverified_sender_is_a_400_naming_email_sender_and_nothing_is_sent(
    run: Async, servers: Servers, fresh_check: SenderIdentities, prefer: dict[str, str]
) -> None:
    status, body = run.api({**BODY, "emailSender": "news@unverified.example.org"}, headers=prefer)

    assert (status, body["error"], body["message"]) == (400, "Bad Request", REFUSED)
    assert "news@" not in run.api.last["body"]  # the address is not quoted back (refusals are logged)
    assert (servers.outbox.emails(), servers.outbox.sms(), run.queue.launched) == ([], [], [])


def test_the_configured_sender_unverified_is_refused_naming_email_sender(
    api: ApiCall, servers: Servers, fresh_check: SenderIdentities
) -> None:
    sesv2 = boto3.client("sesv2")
    sesv2.delete_email_identity(EmailIdentity="example.com")
    try:
        status, body = api(BODY)
        # Not e-mail: the sender does not matter, nothing is asked.
        sms_status, _ = api({**BODY, "channels": ["sms"]})
    finally:
        sesv2.create_email_identity(EmailIdentity="example.com")

    assert (status, body["message"]) == (
        400,
        "emailSender: none given, and the configured sender (sender.email) is not a verified SES identity; "
        "nothing was sent",
    )
    assert sms_status == 200
    assert servers.outbox.emails() == []


def test_an_address_at_a_verified_domain_or_itself_verified_goes(
    api: ApiCall, servers: Servers, fresh_check: SenderIdentities
) -> None:
    boto3.client("ses").verify_email_identity(EmailAddress="desk@solo.example.net")

    at_domain, _ = api({**BODY, "channels": ["email"], "emailSender": "clinic@example.com"})
    itself, _ = api({**BODY, "channels": ["email"], "emailSender": "desk@solo.example.net"})
    other, _ = api({**BODY, "channels": ["email"], "emailSender": "other@solo.example.net"})

    assert (at_domain, itself, other) == (200, 200, 400)
    senders = [email["source"] for email in servers.outbox.emails()]
    assert sorted(senders) == sorted(["clinic@example.com"] * 2 + ["desk@solo.example.net"] * 2)


def test_an_unverified_sender_from_the_queue_is_refused_as_over_http(
    run: Async, intake: ModuleType, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake.parts, "identities", SenderIdentities.connect())

    assert _deliver(intake, _record({**GOOD, "emailSender": "news@unverified.example.org"}), _record(GOOD)) == []

    assert len(_sent_ids(run)) == 1  # only the one from the configured (verified) sender
    [refused] = [e["detail"] for e in events.read() if e["detail-type"] == "Send Refused"]
    assert (refused["statusCode"], refused["message"]) == (400, REFUSED)


@pytest.fixture
def ses_unreachable(functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch) -> None:
    """SES's endpoint for SendFunction's check is a closed port (the e-mails still go to moto)."""
    closed = boto3.client("sesv2", endpoint_url=f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(functions["send"].parts, "identities", SenderIdentities(closed))


def test_an_outage_of_the_check_never_blocks_a_send(
    api: ApiCall, servers: Servers, ses_unreachable: None, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = api({**BODY, "channels": ["email"]})
    # An unverified one goes too: SES then refuses each e-mail, as before the check existed.
    second, answer = api({**BODY, "channels": ["email"], "emailSender": "news@unverified.example.org"})

    assert (first, second) == (200, 200)
    assert [email["source"] for email in servers.outbox.emails()] == [SENDER, SENDER]
    assert {failure["error"].split(":")[0] for failure in answer["failures"]} == {"MessageRejected"}
    logged = [record for record in caplog.records if record.getMessage().startswith("sender identity")]
    assert [(record.levelname, record.getMessage()) for record in logged] == [
        ("WARNING", "sender identity not checked: the send goes on"),
        ("INFO", "sender identity not checked: SES was unreachable moments ago"),
    ]
    assert getattr(logged[0], "reason", None) == "EndpointConnectionError"


def _asked(identities: SenderIdentities) -> list[str]:
    """The identities SES is asked about from now on (GetEmailIdentity calls, as made)."""
    asked: list[str] = []
    identities._ses.meta.events.register(
        "provide-client-params.sesv2.GetEmailIdentity", lambda params, **_: asked.append(params["EmailIdentity"])
    )
    return asked


def test_a_sender_at_a_domain_of_a_hundred_labels_costs_a_few_ses_calls_not_a_hundred(
    api: ApiCall, servers: Servers, fresh_check: SenderIdentities
) -> None:
    asked = _asked(fresh_check)
    deep = "x." * 100

    under_verified, _ = api({**BODY, "channels": ["email"], "emailSender": f"a@{deep}example.com"})
    verified_calls = len(asked)
    # Under a domain nobody verified: the parents left out might be verified, so it is not refused
    # (SES then judges each e-mail, as when the check is out).
    unknown, answer = api({**BODY, "channels": ["email"], "emailSender": f"a@{deep}unverified.example.org"})

    assert (under_verified, unknown) == (200, 200)
    assert asked[:verified_calls][-1] == "example.com"
    assert verified_calls <= 6
    assert len(asked) - verified_calls <= 6
    assert {failure["error"].split(":")[0] for failure in answer["failures"]} == {"MessageRejected"}


def test_a_parent_domain_verified_within_the_bound_is_found_and_a_subdomains_identity_covers_no_parent(
    api: ApiCall, fresh_check: SenderIdentities
) -> None:
    boto3.client("sesv2").create_email_identity(EmailIdentity="mail.verified-sub.example.org")

    sub, _ = api({**BODY, "channels": ["email"], "emailSender": "a@b.c.mail.verified-sub.example.org"})
    parent, _ = api({**BODY, "channels": ["email"], "emailSender": "a@verified-sub.example.org"})

    assert (sub, parent) == (200, 400)


def test_the_answers_remembered_are_bounded_across_many_senders(
    fresh_check: SenderIdentities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_identity, "MAX_KNOWN", 5)
    asked = _asked(fresh_check)
    for n in range(20):
        assert fresh_check.verified(f"news@unverified-{n}.example.org") is False
        assert len(fresh_check) <= 5

    before = len(asked)
    assert fresh_check.verified("news@unverified-19.example.org") is False  # the latest still remembered
    assert len(asked) == before
    assert fresh_check.verified("news@unverified-0.example.org") is False  # the oldest forgotten: asked again
    assert len(asked) > before


def test_hostile_sender_spellings_are_refused_unasked_or_checked_in_the_form_ses_sends(
    api: ApiCall, servers: Servers, fresh_check: SenderIdentities
) -> None:
    boto3.client("sesv2").create_email_identity(EmailIdentity="xn--bcher-kva.example")
    asked = _asked(fresh_check)

    refused = {
        sender: api({**BODY, "channels": ["email"], "emailSender": sender})
        for sender in ('"Evil" <a@example.com>', "a@example.com.", "a@example..com", "ä@example.com")
    }
    assert asked == []  # refused by the body's validation, before SES is asked anything
    assert {status for status, _ in refused.values()} == {400}
    assert all("emailSender" in body["message"] for _, body in refused.values())

    idn, _ = api({**BODY, "channels": ["email"], "emailSender": "news@bücher.example"})
    upper, _ = api({**BODY, "channels": ["email"], "emailSender": "News@EXAMPLE.COM"})
    assert (idn, upper) == (200, 200)
    assert "xn--bcher-kva.example" in asked  # the IDNA form SES knows, not the Unicode one
    sources = {email["source"].lower() for email in servers.outbox.emails()}
    assert sources == {"news@xn--bcher-kva.example", "news@example.com"}
