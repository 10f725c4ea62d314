"""CPU of one provider call, per botocore option: SES v2 SendEmail (Simple and raw MIME content),
SNS Publish and End User Messaging SendTextMessage, each through `messaging.aws.client` against the
benchmark's provider stand-in (latency 0, in a process of its own), one call after another, so the
CPU this process spends is the client's alone. Each variant runs in a fresh interpreter: botocore
decides at import whether it signs with the CRT.

    python -m bench.provider_calls                       # without awscrt
    python -m bench.provider_calls --crt /tmp/crt        # also with awscrt, installed (pip --target) there
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.harness import ROOT, SENDERS, standin

CALLS = 2000
CASES = ("ses-simple", "ses-raw", "sns", "eum-sms")


def _call(case: str, validate: bool) -> tuple[Any, dict[str, Any]]:
    """The client method and the arguments the channel modules send (as built by them)."""
    from messaging import aws
    from messaging.channels import email
    from messaging.channels.email import EmailBatch, EmailMessage, SharedParts

    def make(service: str) -> Any:
        return aws.client(service, validate=validate)  # botocore decides it when the client is made

    message = EmailMessage(userId="user-1", to="user1@example.com", subject="Appointment", text="Hello, User 1!")
    batch = EmailBatch(sendId="s", batchId="b", sender=SENDERS["email"], messages=[message])
    tags = email.email_tags(batch, message)
    destination = {"ToAddresses": [message.to], "CcAddresses": [], "BccAddresses": []}
    if case == "ses-simple":
        content = email._simple(message)
    elif case == "ses-raw":
        content = {"Raw": {"Data": email.raw_mime(batch, message, message.to, SharedParts("=_b", b"--=_b--\r\n"))}}
    else:
        content = {}
    if case.startswith("ses"):
        arguments = {"FromEmailAddress": batch.sender, "Destination": destination, "Content": content}
        return make("sesv2").send_email, {**arguments, "EmailTags": tags}
    if case == "sns":
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        return make("sns").publish, {"PhoneNumber": "+393300000001", "Message": "Hi", "MessageAttributes": attributes}
    context = {"sendId": "s", "userId": "user-1"}
    return make("pinpoint-sms-voice-v2").send_text_message, {
        "DestinationPhoneNumber": "+393300000001",
        "MessageBody": "Hi",
        "Context": context,
        "MessageType": "TRANSACTIONAL",
    }


def measure(case: str, validate: bool, calls: int) -> float:
    """µs of this process's CPU per call, after 50 warm-up calls."""
    method, arguments = _call(case, validate)
    for _ in range(50):
        method(**arguments)
    started = time.process_time()
    for _ in range(calls):
        method(**arguments)
    return (time.process_time() - started) / calls * 1e6


def _fresh(case: str, validate: bool, crt: str | None, url: str, calls: int) -> float:
    path = [str(ROOT / "layers" / "common"), str(ROOT), *([crt] if crt else [])]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(path),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        **{f"AWS_ENDPOINT_URL_{s}": url for s in ("SESV2", "SNS", "PINPOINT_SMS_VOICE_V2")},
    }
    code = (
        # botocore's HAS_CRT: whether it found awscrt at import, and so signs requests with it.
        "import json, sys; from bench import provider_calls as p; from botocore.compat import HAS_CRT; "
        f"print(json.dumps([p.measure({case!r}, {validate!r}, {calls}), bool(HAS_CRT)]))"
    )
    output = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    us, used = json.loads(output.stdout.splitlines()[-1])
    if bool(crt) != used:
        raise RuntimeError(f"awscrt {'not ' if crt else ''}in use with --crt {crt}")
    return float(us)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crt", help="a folder holding awscrt (pip install --target): also measure with it")
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--repeat", type=int, default=3, help="fresh interpreters per variant (median, spread)")
    args = parser.parse_args(argv)
    variants = [(validate, crt) for crt in (None, *([args.crt] if args.crt else [])) for validate in (True, False)]
    header = " | ".join(f"{'crt' if crt else 'no crt'}, validation {'on' if v else 'off'}" for v, crt in variants)
    print(f"µs CPU per call, median (min-max) of {args.repeat} x {args.calls} calls\n\n| call | {header} |")
    print("|---|" + "---|" * len(variants))
    with standin("providers", "0") as providers:
        for case in CASES:
            cells = []
            for validate, crt in variants:
                runs = sorted(_fresh(case, validate, crt, providers.url, args.calls) for _ in range(args.repeat))
                cells.append(f"{statistics.median(runs):.0f} ({runs[0]:.0f}-{runs[-1]:.0f})")
            print(f"| {case} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
