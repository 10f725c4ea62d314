"""E-mail as users expect it: File Service attachments staged in S3 and sent as raw MIME, CC/BCC,
sender override, HTML with its text alternative, no header injection. The raw MIME moto recorded
is parsed back with the `email` package."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from bson import ObjectId

from messaging.attachments import MAX_TOTAL_BYTES
from tests.conftest import SENDER, ApiCall, Servers, provision_aws
from tests.lambda_runtime import InProcessInvoker

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40  # binary content must survive base64 intact
CSV = b"name;amount\nAnn;3\n"


def parse(raw: dict[str, Any]) -> EmailMessage:
    message = email.message_from_string(raw["raw_data"], policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def crlf_to_lf(text: str) -> str:
    return text.replace("\r\n", "\n")  # SMTP line endings


def attachments(message: EmailMessage) -> dict[str, tuple[str, Any]]:
    return {
        str(part.get_filename()): (part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    }


@pytest.fixture
def files(servers: Servers) -> Any:
    servers.files.files.clear()
    servers.files.downloads.clear()
    servers.files.files.update({"report.pdf": PDF, "data.csv": CSV, "relazione perché.txt": "è così".encode()})
    return servers.files


def test_body_and_template_attachments_go_once_in_raw_mime_with_cc_bcc_and_html(
    api: ApiCall,
    servers: Servers,
    files: Any,
    db: Any,
    functions: Any,
    invoker: InProcessInvoker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    template_id = ObjectId()
    db.templates.insert_one(
        {
            "_id": template_id,
            "emailTitle": "Report for {{user.name}}",
            "emailHtmlMessage": "<p>Dear {{user.name}},</p><p>{{data.note}}</p><p>{{{data.signature}}}</p>",
            "emailAttachments": [{"file": "report.pdf"}, {"file": "data.csv"}],
        }
    )
    # Two users in two batches: the files are still fetched once per request.
    monkeypatch.setattr(
        functions["send"].parts,
        "settings",
        functions["send"].parts.settings.model_copy(update={"batch_max_messages": 1}),
    )

    status, body = api(
        {
            "channels": ["email"],
            "recipients": ["u1", "u2"],
            "templateId": str(template_id),
            "emailAttachments": ["data.csv", "relazione perché.txt"],
            "emailCarbonCopies": ["boss@example.com", "not-an-address"],
            "emailBlindCarbonCopies": ["audit@example.com"],
            "emailSender": "reports@example.com",
            "data": {"note": "Totals <attached>\nsee below", "signature": "<i>The team</i>"},
        }
    )

    assert (status, body) == (200, {"failures": []})
    assert dict(files.downloads) == {"report.pdf": 1, "data.csv": 1, "relazione perché.txt": 1}
    sent = {parse(raw)["To"]: (raw, parse(raw)) for raw in servers.outbox.raw_emails()}
    assert sorted(sent) == ["ann@example.com", "bob@example.com"]
    raw, ann = sent["ann@example.com"]
    assert (ann["From"], ann["Subject"], ann["Cc"], ann["Bcc"]) == (
        "reports@example.com",
        "Report for Ann",
        "boss@example.com",
        None,
    )
    assert "audit@example.com" in raw["destinations"]  # BCC travels in the envelope only
    html = ann.get_body(preferencelist=("html",))
    text = ann.get_body(preferencelist=("plain",))
    assert html is not None
    assert text is not None
    assert crlf_to_lf(html.get_content()).rstrip() == (
        "<p>Dear Ann,</p><p>Totals &lt;attached&gt;<br/>see below</p><p><i>The team</i></p>"
    )
    assert crlf_to_lf(text.get_content()).strip() == "Dear Ann,\n\nTotals <attached>\nsee below\n\nThe team"
    assert attachments(ann) == {
        "data.csv": ("text/csv", CSV),
        "relazione perché.txt": ("text/plain", "è così".encode()),
        "report.pdf": ("application/pdf", PDF),
    }
    # The non-ASCII file name is RFC 2231-encoded in the header itself.
    assert "filename*=utf-8''relazione%20perch%C3%A9.txt" in raw["raw_data"]
    # Batches carried S3 keys, not file contents.
    email_payloads = [p for p in invoker.payloads if p["channel"] == "email"]
    assert all(len(p["attachments"]) == 3 and "key" in p["attachments"][0] for p in email_payloads)


@pytest.fixture
def fresh_moto(servers: Servers) -> Any:
    yield
    servers.outbox.reset()
    provision_aws()


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 400)], ids=["exactly-15MB", "one-byte-over"])
@pytest.mark.usefixtures("fresh_moto")
def test_the_15_mb_limit_counts_every_attachment(
    api: ApiCall, servers: Servers, files: Any, extra: int, status: int
) -> None:
    files.files["big.bin"] = b"\0" * (MAX_TOTAL_BYTES - len(CSV) + extra)

    code, body = api(
        {
            "channels": ["email"],
            "recipients": ["u2"],
            "messageTitle": "t",
            "messageContent": "c",
            "emailAttachments": ["data.csv", "big.bin"],
        }
    )

    assert code == status
    if status == 400:
        assert body["message"] == (
            f"emailAttachments: at most {MAX_TOTAL_BYTES} bytes (15 MB) in all; "
            f"with 'big.bin' they come to at least {MAX_TOTAL_BYTES + 1} bytes"
        )
        assert servers.outbox.raw_emails() == []
    else:
        [raw] = servers.outbox.raw_emails()
        assert len(attachments(parse(raw))["big.bin"][1]) == MAX_TOTAL_BYTES - len(CSV)


def test_a_missing_file_refuses_the_request(api: ApiCall, servers: Servers, files: Any) -> None:
    status, body = api(
        {
            "channels": ["email", "sms"],
            "recipients": ["u1"],
            "messageTitle": "t",
            "messageContent": "c",
            "emailAttachments": ["data.csv", "ghost.pdf"],
        }
    )

    assert status == 400
    assert body["message"] == "emailAttachments: file 'ghost.pdf' not found in the File Service"
    assert (servers.outbox.raw_emails(), servers.outbox.sms()) == ([], [])


def test_line_breaks_in_title_or_data_never_reach_a_header(api: ApiCall, servers: Servers, files: Any) -> None:
    status, body = api(
        {
            "channels": ["email"],
            "recipients": ["u2"],
            "messageTitle": "Hello\r\nBcc: victim@example.com {{data.x}}",
            "messageContent": "c",
            "data": {"x": "a\nX-Injected: yes"},
            "emailAttachments": ["data.csv"],
        }
    )

    assert (status, body) == (200, {"failures": []})
    [raw] = servers.outbox.raw_emails()
    message = parse(raw)
    assert message["Subject"] == "Hello Bcc: victim@example.com a X-Injected: yes"
    assert (message["Bcc"], message["X-Injected"]) == (None, None)
    assert "victim@example.com" not in raw["destinations"]


def test_simple_html_email_carries_a_generated_text_alternative(servers: Servers, functions: Any) -> None:
    from tests.lambda_runtime import LambdaContext

    servers.outbox.mark()
    event = {
        "channel": "email",
        "sender": SENDER,
        "messages": [
            {"userId": "u1", "to": "ann@example.com", "subject": "s", "html": "<h1>Hi</h1><ul><li>one</li></ul>"}
        ],
    }

    assert functions["email"].lambda_handler(event, LambdaContext()) == {"failures": []}
    [sent] = servers.outbox.emails()
    assert sent["body"] == "<h1>Hi</h1><ul><li>one</li></ul>"  # moto keeps the HTML body only


def test_a_file_service_outage_is_a_503_and_nothing_is_sent(
    api: ApiCall, servers: Servers, functions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functools import partial

    from local.servers import free_port
    from messaging.attachments import FileService, stage_attachments

    dead = FileService(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    monkeypatch.setattr(
        functions["send"].parts, "stage", partial(stage_attachments, file_service=dead, s3=None, bucket="")
    )

    status, body = api(
        {
            "channels": ["email"],
            "recipients": ["u1"],
            "messageTitle": "t",
            "messageContent": "c",
            "emailAttachments": ["data.csv"],
        }
    )

    assert status == 503
    assert body["message"] == "File Service unreachable: ConnectionError"
    assert servers.outbox.raw_emails() == []


def test_an_attachment_missing_from_the_bucket_fails_each_message(servers: Servers, functions: Any) -> None:
    from tests.lambda_runtime import LambdaContext

    event = {
        "channel": "email",
        "sender": SENDER,
        "attachments": [
            {"name": "gone.pdf", "key": "attachments/none/0", "contentType": "application/pdf", "size": 10}
        ],
        "messages": [{"userId": "u1", "to": "ann@example.com", "subject": "s", "text": "t"}],
    }

    [failure] = functions["email"].lambda_handler(event, LambdaContext())["failures"]

    assert failure["userId"] == "u1"
    assert failure["error"].startswith("attachments unavailable: NoSuchKey")


@pytest.mark.usefixtures("fresh_moto")
def test_a_15_mb_attachment_bounds_the_ses_calls_in_flight_and_every_message_arrives_once(
    servers: Servers, functions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MemorySize 512 with CHANNEL_CONCURRENCY 8: eight 20 MB raw messages in flight at once took
    942 MB; the function now keeps in flight only what its memory budget holds."""
    import threading

    import boto3

    from messaging.channels import email as email_channel
    from tests.conftest import ATTACHMENTS_BUCKET
    from tests.lambda_runtime import LambdaContext

    app = functions["email"]
    data = bytes(range(256)) * (MAX_TOTAL_BYTES // 256)  # exactly 15 MB, every byte value
    boto3.client("s3").put_object(Bucket=ATTACHMENTS_BUCKET, Key="attachments/big/0", Body=data)
    monkeypatch.setattr(app, "settings", app.settings.model_copy(update={"concurrency": 8, "memory_size_mb": 512}))
    users = [f"user{i}@example.com" for i in range(5)]

    in_flight = peak = 0
    lock = threading.Lock()
    real_send = app.ses.send_email

    def counting_send(**kwargs: Any) -> Any:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            return real_send(**kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(app.ses, "send_email", counting_send)
    event = {
        "channel": "email",
        "sender": SENDER,
        "attachments": [
            {
                "name": "big.bin",
                "key": "attachments/big/0",
                "contentType": "application/octet-stream",
                "size": len(data),
            }
        ],
        "messages": [{"userId": f"u{i}", "to": to, "subject": "s", "text": "t"} for i, to in enumerate(users)],
    }

    assert app.lambda_handler(event, LambdaContext(memory_limit_in_mb=512)) == {"failures": []}

    raw_size = 4 * len(data) // 3 + 4096  # base64 of the attachment plus headers, at least
    bound = email_channel.concurrency_for(8, raw_size, app.settings.memory_budget_bytes - raw_size)
    assert bound < 8
    assert 1 <= peak <= bound
    sent = [parse(raw) for raw in servers.outbox.raw_emails()]
    assert sorted(str(message["To"]) for message in sent) == users  # each exactly once
    assert all(attachments(message) == {"big.bin": ("application/octet-stream", data)} for message in sent)


HOSTILE_NAMES = {
    "dot-dot": "..",  # urllib3 resolves the dot segment: it fetched {File Service}/
    "dot": ".",
    "crlf": "evil\r\nX-Injected: yes.txt",  # fetched and staged, then every e-mail failed
    "lf": "line\nbreak.pdf",
    "nul": "nul\0.pdf",
}


def _nothing_sent(servers: Servers) -> None:
    assert (servers.outbox.emails(), servers.outbox.raw_emails(), servers.outbox.sms()) == ([], [], [])
    assert servers.fcm.messages == []


@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_a_hostile_attachment_name_is_a_400_before_anything_is_fetched_or_sent(
    api: ApiCall, servers: Servers, files: Any, name: str
) -> None:
    files.files[name] = b"payload"

    status, body = api(
        {
            "channels": ["email", "sms", "push"],
            "recipients": ["u1"],
            "messageTitle": "t",
            "messageContent": "c",
            "emailAttachments": ["data.csv", name],
        }
    )

    assert status == 400
    assert body["message"].startswith("emailAttachments[1]: must not ")
    assert dict(files.downloads) == {}
    _nothing_sent(servers)


@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_a_template_with_a_hostile_attachment_name_is_a_400_naming_the_template(
    api: ApiCall, servers: Servers, files: Any, db: Any, name: str
) -> None:
    files.files[name] = b"payload"
    template_id = ObjectId()
    db.templates.insert_one(
        {
            "_id": template_id,
            "emailTitle": "t",
            "emailMessage": "c",
            "smsMessage": "c",
            "pushTitle": "t",
            "pushMessage": "c",
            "emailAttachments": [{"file": "data.csv"}, {"file": name}],
        }
    )

    status, body = api({"channels": ["email", "sms", "push"], "recipients": ["u1"], "templateId": str(template_id)})

    assert status == 400
    assert body["message"].startswith(f"template {template_id} is malformed: emailAttachments[1].file: must not ")
    assert dict(files.downloads) == {}
    _nothing_sent(servers)


@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_the_file_service_client_never_requests_a_dot_segment_or_a_control_character(files: Any, name: str) -> None:
    import io

    from messaging.attachments import FileService
    from messaging.errors import BadRequest

    files.files[name] = b"payload"
    files.files[""] = b"the File Service's own page"  # what `.` resolved to: GET /download/

    with pytest.raises(BadRequest, match=r"^emailAttachments: a file name must not "):
        FileService(files.url, timeout_s=5).download(name, io.BytesIO(), budget=1024)
    assert dict(files.downloads) == {}


@pytest.mark.usefixtures("fresh_moto")
@pytest.mark.parametrize("with_attachment", [True, False], ids=["raw-mime", "simple"])
def test_non_ascii_addresses_go_idna_encoded_or_not_at_all(
    api: ApiCall, servers: Servers, files: Any, db: Any, with_attachment: bool
) -> None:
    import boto3

    boto3.client("sesv2").create_email_identity(EmailIdentity="xn--bcher-kva.de")
    db.users.insert_many(
        [{"_id": "idn", "emailAddress": "anna@bücher.de"}, {"_id": "umlaut", "emailAddress": "jürgen@example.com"}]
    )

    status, body = api(
        {
            "channels": ["email"],
            "recipients": ["idn", "umlaut"],
            "messageTitle": "t",
            "messageContent": "c",
            "emailCarbonCopies": ["chef@bücher.de", "ü@example.com", "boss@example.com"],
            "emailBlindCarbonCopies": ["ö@example.com", "audit@bücher.de"],
            "emailSender": "news@bücher.de",
            **({"emailAttachments": ["data.csv"]} if with_attachment else {}),
        }
    )

    assert status == 200
    # Decided before SES, and the address is never quoted back.
    assert body["failures"] == [
        {
            "userId": "umlaut",
            "channel": "email",
            "error": "InvalidAddress: the address cannot be sent as 7-bit (non-ASCII local part)",
        }
    ]
    if with_attachment:
        [raw] = servers.outbox.raw_emails()
        message = parse(raw)
        assert (message["From"], message["To"], message["Cc"]) == (
            "news@xn--bcher-kva.de",
            "anna@xn--bcher-kva.de",
            "chef@xn--bcher-kva.de, boss@example.com",
        )
        assert crlf_to_lf(raw["raw_data"]).split("\n\n", 1)[0].isascii()  # every header 7-bit
        assert "audit@xn--bcher-kva.de" in raw["destinations"]
        assert not any("ö" in address or "ü" in address for address in raw["destinations"])
    else:
        [sent] = servers.outbox.emails()
        assert sent["source"] == "news@xn--bcher-kva.de"
        assert sent["destinations"] == {
            "ToAddresses": ["anna@xn--bcher-kva.de"],
            "CcAddresses": ["chef@xn--bcher-kva.de", "boss@example.com"],
            "BccAddresses": ["audit@xn--bcher-kva.de"],
        }
