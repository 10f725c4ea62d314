"""SendFunction on the layer exactly as `sam build` makes it (layers/common/Makefile, whose
defer_imports.py makes some third-party imports lazy), in a fresh interpreter that sees only that
layer, as Lambda runs it: its cold start leaves out what no request of it uses, it still answers,
every deferred name still loads when asked for, and it documents the same API as the tests' venv."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cfnlint.decode import decode_str
from email_validator import EmailNotValidError, validate_email

from bench.cold_start import build_layer, lambda_environ
from bench.harness import environment
from bench.run import parse_args
from local.lambda_runtime import host_python
from tests.conftest import api_event

ROOT = Path(__file__).resolve().parents[2]
# Loaded by nothing SendFunction does (arrow: only by templates that format dates).
NEVER_AT_COLD_START = (
    "s3transfer",
    "multiprocessing",
    "pymongo.asynchronous.mongo_client",
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.bedrock_agent",
    "aws_lambda_powertools.utilities.data_classes.code_pipeline_job_event",
    "arrow",
    # Documentation generators of botocore and boto3, structlog (handlebarrz's Python wrapper only), the
    # package metadata reader (pydantic plugins, pymongo encryption, urllib3 HTTP/2).
    "botocore.docs.service",
    "botocore.docs.method",
    "boto3.docs.service",
    "boto3.docs.action",
    "structlog",
    "importlib.metadata",
    # google-auth (PushFunction's client) and html.parser (EmailFunction's plain-text alternatives).
    "google.auth",
    "html.parser",
)
# Plain, internationalized, quoted and broken: the layer's email-validator answers as the venv's.
ADDRESSES = ["ann@example.com", "añn@example.com", '"ann smith"@example.com', "a\\b@example.com", "ann@exämple.com"]
SCRIPT = """
import gc, importlib.util, json, sys
thresholds = gc.get_threshold()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
at_start = sorted(sys.modules)
collector = [gc.get_threshold() == thresholds, gc.get_freeze_count() > 0]

class Context:
    function_name = "SendFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:SendFunction"
    aws_request_id = "built-layer"

answer = app.lambda_handler(json.loads(sys.argv[2]), Context())

import boto3.compat, pymongo
from aws_lambda_powertools.event_handler import AppSyncResolver, Depends
from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
deferred = [pymongo.AsyncMongoClient.__name__, boto3.compat.TRANSFER_CONFIG_SUPPORTS_CRT, AppSyncResolver.__name__,
            Depends.__name__, SQSEvent.__name__, callable(event_source)]
from email_validator import EmailNotValidError, validate_email
def outcome(address):
    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=False).ascii_email
    except EmailNotValidError as exc:
        return str(exc)
emails = [outcome(address) for address in json.loads(sys.argv[3])]

# Docstrings that botocore and boto3 generate when first read (help(), Sphinx) still generate.
import boto3, botocore.docs, boto3.docs, botocore.docs.docstring, boto3.docs.docstring
invoke_doc = str(boto3.client("lambda", region_name="us-east-1").invoke.__doc__)
table = boto3.resource("dynamodb", region_name="us-east-1").Table("t")
docstrings = ["**Request Syntax**" in invoke_doc, "**Request Syntax**" in str(table.put_item.__doc__),
              botocore.docs.ServiceDocumenter.__name__, boto3.docs.ServiceDocumenter.__name__,
              callable(botocore.docs.docstring.document_model_driven_method),
              callable(boto3.docs.docstring.document_action)]
# handlebarrz's logger is structlog's once used; no pydantic plugin is installed on the layer.
import importlib.metadata, os, re
handlebarrz = sys.modules["handlebarrz"]  # loaded by messaging.templates.native
handlebarrz.logger.bind
plugins = [type(handlebarrz.logger).__name__, os.environ["PYDANTIC_DISABLE_PLUGINS"],
           list(importlib.metadata.entry_points(group="pydantic"))]
# Where importlib.metadata now loads when first used: pymongo's version check, urllib3's HTTP/2, wrapt's hooks.
import pymongo.common, pydantic.plugin._loader, urllib3.http2, wrapt
metadata_users = [pymongo.common.check_for_min_version("dnspython")[2], callable(urllib3.http2.version),
                  wrapt.discover_post_import_hooks("no.such.group") is None,
                  callable(pydantic.plugin._loader.entry_points)]
# email-validator's domain characters: the same set of code points as the pattern it ships.
from email_validator import rfc_constants
every = "".join(map(chr, range(0x110000)))
shipped = re.compile(r"[a-zA-Z0-9\\-\\." + "\\u0080-\\U0010FFFF" + "]")
same_domain_characters = [m.start() for m in shipped.finditer(every)] == [
    m.start() for m in rfc_constants.ATEXT_HOSTNAME_INTL.finditer(every)]
layer = [m.__file__ for m in (pymongo, boto3.compat)]
print(json.dumps({"emails": emails, "at_start": at_start, "collector": collector, "answer": answer,
                  "deferred": deferred, "layer": layer, "docstrings": docstrings, "plugins": plugins,
                  "metadata_users": metadata_users, "same_domain_characters": same_domain_characters}))
"""


def test_send_function_starts_on_the_built_layer_without_what_it_never_uses_and_still_answers() -> None:
    layer = build_layer()
    service = environment(parse_args([]), "http://127.0.0.1:9", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1")
    bad_body = api_event({"channels": ["email", "fax"], "recipients": [7], "messageTitle": "t", "messageContent": "c"})
    run = subprocess.run(
        [
            host_python(),
            "-S",
            "-c",
            SCRIPT,
            str(ROOT / "functions" / "send" / "app.py"),
            json.dumps(bad_body),
            json.dumps(ADDRESSES),
        ],
        env=lambda_environ("send", layer, service),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])

    loaded = [m for m in result["at_start"] if any(m == n or m.startswith(f"{n}.") for n in NEVER_AT_COLD_START)]
    assert loaded == []
    assert all(path.startswith(str(layer)) for path in result["layer"])
    # The collector, put off while the module loads, runs again as usual, and skips what init built.
    assert result["collector"] == [True, True]
    answer = result["answer"]
    assert answer["statusCode"] == 400
    message = json.loads(answer["body"])["message"]
    assert "channels[1]" in message
    assert "recipients[0]" in message
    assert result["deferred"] == [
        "AsyncMongoClient",
        True,
        "AppSyncResolver",
        "Depends",
        "SQSEvent",
        True,
    ]

    assert result["emails"] == [outcome(address) for address in ADDRESSES]
    assert result["same_domain_characters"] is True
    assert result["docstrings"] == [True, True, "ServiceDocumenter", "ServiceDocumenter", True, True]
    assert result["plugins"] == ["BoundLoggerLazyProxy", "__all__", []]
    assert result["metadata_users"] == [True, True, True, True]
    # ...as template.yaml sets it for every function.
    template, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors
    assert template["Globals"]["Function"]["Environment"]["Variables"]["PYDANTIC_DISABLE_PLUGINS"] == "__all__"

    # Powertools' OpenAPI generation on the built layer: the committed document, byte for byte.
    document = subprocess.run(
        [host_python(), "-S", "-m", "local.openapi", "--stdout"],
        cwd=ROOT,
        env={"PATH": lambda_environ("send", layer, {})["PATH"], "PYTHONPATH": f"{ROOT}:{layer}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert document.returncode == 0, document.stderr[-3000:]
    assert document.stdout == (ROOT / "openapi.json").read_text()


def outcome(address: str) -> str:
    try:
        return str(validate_email(address, check_deliverability=False, allow_smtputf8=False).ascii_email)
    except EmailNotValidError as exc:
        return str(exc)
