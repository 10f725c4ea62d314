"""`make start`: the whole product offline, through the real `sam local` chain.

    SecantusDB (MongoDB wire protocol) seeded with demo users and templates
    moto's server for SES, SNS, Secrets Manager (sender identity verified, FCM secret stored)
    an FCM stand-in (OAuth2 token + messages:send; tokens "unregistered-*" answer UNREGISTERED)
    an End User Messaging SMS and Voice v2 stand-in (SendVoiceMessage, SendTextMessage; GET /messages)
    sam build, sam local start-lambda (channel functions), sam local start-api (POST /send)

Ctrl-C (or SIGTERM) stops everything. Lambda containers reach the host as host.docker.internal,
so the servers they call listen on every interface of this machine (demo data only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from botocore.config import Config
from pymongo import MongoClient

from local.banner import summary
from local.demo_data import FILES, TEMPLATES, USERS
from local.eum_standin import EumStandIn
from local.fcm_standin import FcmStandIn
from local.file_service_standin import FileServiceStandIn
from local.lambda_runtime import host_python
from local.queues import start_queues
from local.request_log import start_following
from local.sam_containers import inspected, owned, sam_lambda_containers
from local.scheduler import LocalScheduler
from local.service_account import make_service_account
from local.stack_env import (
    ATTACHMENTS_BUCKET,
    CONTACT_LIST,
    CONTACT_TOPIC,
    FAKE_CREDENTIALS,
    FCM_PROJECT,
    FCM_SECRET_ID,
    HOST_FROM_CONTAINER,
    IDEMPOTENCY_TABLE,
    PARAMETERS,
    REGION,
    ROOT,
    SCHEDULE_GROUP,
    SENDS_TABLE,
    SERVICE_CONFIG,
    SES_CONFIGURATION_SET,
    function_environments,
    parameter_overrides,
)

_STARTED = time.monotonic()


def channels() -> list[tuple[str, str]]:
    """(channel, function logical id) of every registered channel (messaging.channels.registry)."""
    layer = str(ROOT / "layers" / "common")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    from messaging.channels import registry

    return [(spec.name, spec.function_id) for spec in registry.specs()]


def log(message: str) -> None:
    print(f"[stack {time.monotonic() - _STARTED:5.1f}s] {message}", flush=True)


def wait_until(check: Any, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} not ready after {timeout_s:.0f} s")


def http_ok(url: str, data: bytes | None = None) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5):
            return True
    except urllib.error.HTTPError:
        return True  # it answered


class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.fcm: FcmStandIn | None = None
        self.eum: EumStandIn | None = None
        self.files: FileServiceStandIn | None = None
        self.scheduler_stop = threading.Event()
        self.queues: tuple[str, str] = ("", "")  # the intake queue's and the events queue's URLs
        self.containers_before = sam_lambda_containers()
        self.logs = ROOT / ".aws-sam" / "local-logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_file = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self.processes.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def start_servers(self) -> None:
        a = self.args
        self.spawn(
            "secantus",
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                a.bind,
                "--port",
                str(a.mongo_port),
                "--storage-path",
                ":memory:",
            ],
        )
        self.spawn("moto", [sys.executable, "-m", "moto.server", "-H", a.bind, "-p", str(a.moto_port)])
        self.fcm = FcmStandIn(a.bind, a.fcm_port).start()
        self.eum = EumStandIn(a.bind, a.eum_port).start()
        self.files = FileServiceStandIn(a.bind, a.files_port, FILES).start()
        wait_until(lambda: http_ok(f"http://127.0.0.1:{a.moto_port}/moto-api/data.json"), "moto", 30)
        mongo: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://127.0.0.1:{a.mongo_port}/", serverSelectionTimeoutMS=20_000
        )
        database = mongo["messaging"]
        database.users.delete_many({})
        database.templates.delete_many({})
        database.users.insert_many([dict(user) for user in USERS])
        database.templates.insert_many([dict(template) for template in TEMPLATES])
        database.users.create_index("clusters")
        mongo.close()
        endpoint = f"http://127.0.0.1:{a.moto_port}"
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
        session.client("sesv2", endpoint_url=endpoint).create_email_identity(EmailIdentity="example.com")
        session.client("sesv2", endpoint_url=endpoint).create_contact_list(
            ContactListName=CONTACT_LIST,
            Topics=[
                {"TopicName": topic, "DisplayName": topic, "DefaultSubscriptionStatus": "OPT_IN"}
                for topic in (CONTACT_TOPIC, *SERVICE_CONFIG["categories"])
            ],
        )
        session.client("sesv2", endpoint_url=endpoint).create_configuration_set(
            ConfigurationSetName=SES_CONFIGURATION_SET
        )
        session.client("s3", endpoint_url=endpoint).create_bucket(Bucket=ATTACHMENTS_BUCKET)
        session.client("dynamodb", endpoint_url=endpoint).create_table(
            TableName=IDEMPOTENCY_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        session.client("dynamodb", endpoint_url=endpoint).create_table(
            TableName=SENDS_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        session.client("secretsmanager", endpoint_url=endpoint).create_secret(
            Name=FCM_SECRET_ID, SecretString=json.dumps(make_service_account(FCM_PROJECT))
        )
        session.client("scheduler", endpoint_url=endpoint).create_schedule_group(Name=SCHEDULE_GROUP)
        log(
            f"SecantusDB on 127.0.0.1:{a.mongo_port} seeded with {len(USERS)} users, {len(TEMPLATES)} templates; "
            f"moto on :{a.moto_port}; FCM stand-in on :{a.fcm_port}; End User Messaging stand-in on :{a.eum_port}; "
            f"File Service stand-in on :{a.files_port}"
        )

    def env_vars(self) -> Path:
        path = ROOT / ".aws-sam" / "env.local.json"
        path.write_text(json.dumps(function_environments(self.args), indent=2))
        return path

    def build(self, sam: str) -> None:
        python = host_python()
        version = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2] >= (3, 13))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if version == "True":
            # A host Python 3.13 builds without a container.
            env = {"PATH": f"{Path(python).parent}:{os.environ['PATH']}"}
            command = [sam, "build", "--cached", "--parallel", "--parameter-overrides", parameter_overrides(PARAMETERS)]
        else:
            image = subprocess.run(
                [str(ROOT / "scripts" / "lambda-images.sh"), "build"], capture_output=True, text=True, check=True
            ).stdout.strip()
            env = {}
            command = [
                sam,
                "build",
                "--cached",
                "--parallel",
                "--use-container",
                "--build-image",
                image,
                "--skip-pull-image",
                "--parameter-overrides",
                parameter_overrides(PARAMETERS),
            ]
        started = time.monotonic()
        result = subprocess.run(
            command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"sam build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        log(f"sam build: {time.monotonic() - started:.1f} s")

    def start_sam(self) -> None:
        a = self.args
        sam = a.sam
        self.build(sam)
        image = subprocess.run(
            [str(ROOT / "scripts" / "lambda-images.sh"), "run"], capture_output=True, text=True, check=True
        ).stdout.strip()
        env_file = str(self.env_vars())
        common = [
            "--invoke-image",
            image,
            "--skip-pull-image",
            "--env-vars",
            env_file,
            "--parameter-overrides",
            parameter_overrides(PARAMETERS),
            "--add-host",
            f"{HOST_FROM_CONTAINER}:host-gateway",
            "--region",
            REGION,
        ]
        # EAGER would make start-api warm a container for every function, though it only runs
        # SendFunction; the channel functions are warmed where they run, in start-lambda.
        self.spawn(
            "start-lambda",
            [
                sam,
                "local",
                "start-lambda",
                "--host",
                a.bind,
                "-p",
                str(a.lambda_port),
                *common,
                "--warm-containers",
                a.warm_containers,
            ],
            FAKE_CREDENTIALS,
        )
        self.spawn(
            "start-api",
            [
                sam,
                "local",
                "start-api",
                "--host",
                "127.0.0.1",
                "-p",
                str(a.api_port),
                *common,
                "--warm-containers",
                "LAZY",
            ],
            FAKE_CREDENTIALS,
        )
        url = f"http://127.0.0.1:{a.api_port}/send"

        def api_answers() -> bool:
            self.check_alive()
            return http_ok(f"http://127.0.0.1:{a.lambda_port}/2015-03-31/functions") and http_ok(url, b"{}")

        log("sam local start-lambda and start-api launched")
        wait_until(api_answers, "sam local", a.start_timeout)
        self.warm_channel_functions()

    def warm_channel_functions(self) -> None:
        """Runs each channel function once with an empty batch, so the first real request does
        not pay their cold starts."""
        client = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{self.args.lambda_port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(read_timeout=120, retries={"max_attempts": 1}),
        )
        # An empty batch of each channel (its sample event, without messages).
        empty = {
            function: {**json.loads((ROOT / "events" / f"{channel}.json").read_text()), "messages": []}
            for channel, function in channels()
        }

        def invoke(name: str) -> str:
            answer = client.invoke(FunctionName=name, Payload=json.dumps(empty[name]).encode())
            text: str = answer["Payload"].read().decode()
            return text

        with ThreadPoolExecutor(max_workers=len(empty)) as pool:
            answers = dict(zip(empty, pool.map(invoke, empty), strict=True))
        broken = {name: answer for name, answer in answers.items() if json.loads(answer) != {"failures": []}}
        if broken:
            raise RuntimeError(f"channel functions failed to warm up: {broken}")
        log("channel functions warm")

    def start_scheduler(self) -> None:
        """Fires the schedules SendFunction makes in moto (which fires none): DispatchFunction's
        `Event` invoke on start-lambda, as EventBridge Scheduler's would be."""
        a = self.args
        lambdas = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{a.lambda_port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(read_timeout=60, retries={"max_attempts": 1}),
        )

        def invoke(function_name: str, event: dict[str, Any]) -> None:
            lambdas.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode())
            log(f"schedule fired: {function_name} {event.get('sendId')}")

        schedules = boto3.client(
            "scheduler",
            endpoint_url=f"http://127.0.0.1:{a.moto_port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        scheduler = LocalScheduler(schedules, SCHEDULE_GROUP, invoke)
        thread = threading.Thread(
            target=scheduler.run,
            args=(self.scheduler_stop,),
            kwargs={"on_error": lambda exc: log(f"local scheduler: {exc}")},
            daemon=True,
        )
        thread.start()
        log(f"local scheduler firing the due schedules of {SCHEDULE_GROUP} every second")

    def stop(self) -> None:
        self.scheduler_stop.set()
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()  # SAM removes its containers on SIGTERM
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop: killing it")
                process.kill()
        for standin in (self.fcm, self.eum, self.files):
            if standin is not None:
                standin.stop()
        # SAM leaves some warm containers behind on SIGTERM: remove this stack's, never a neighbour's.
        moto = f"http://{HOST_FROM_CONTAINER}:{self.args.moto_port}"
        leftovers = owned(
            inspected(sam_lambda_containers() - self.containers_before),
            ROOT / ".aws-sam" / "build",
            moto,
            self.containers_before,
        )
        if leftovers:
            subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, check=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--lambda-port", type=int, default=3001)
    parser.add_argument("--mongo-port", type=int, default=27017)
    parser.add_argument("--moto-port", type=int, default=5000)
    parser.add_argument("--fcm-port", type=int, default=8090)
    parser.add_argument("--files-port", type=int, default=8091)
    parser.add_argument("--eum-port", type=int, default=8092)
    parser.add_argument(
        "--sms-provider", default="sns", choices=["sns", "end-user-messaging"], help="SmsFunction's SMS_PROVIDER"
    )
    parser.add_argument("--bind", default="0.0.0.0", help="where the servers the containers call listen")
    parser.add_argument("--warm-containers", default="EAGER", choices=["EAGER", "LAZY"])
    parser.add_argument("--start-timeout", type=float, default=300)
    parser.add_argument("--sam", default=shutil.which("sam") or str(ROOT / ".venv-sam" / "bin" / "sam"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack = Stack(args)
    started = time.monotonic()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Once stopping, further signals (a second Ctrl-C, timeout's SIGTERM) must not cut the cleanup.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start_servers()
        stack.start_sam()
        stack.start_scheduler()
        stack.queues = start_queues(
            f"http://127.0.0.1:{args.moto_port}", f"http://127.0.0.1:{args.lambda_port}", stack.scheduler_stop, log
        )
        print(summary(args, stack.queues, stack.logs, time.monotonic() - started), flush=True)
        print("[stack] ready", flush=True)
        start_following(
            stack.logs / "start-api.log", stack.scheduler_stop, lambda line: print(f"[api] {line}", flush=True)
        )
        while True:
            time.sleep(1)
            stack.check_alive()
    except KeyboardInterrupt:
        log("stopping")
        return 0
    except Exception as exc:  # noqa: BLE001 - report why the stack could not start, then clean up
        log(f"failed: {exc}")
        return 1
    finally:
        # A signal during the cleanup (a Ctrl-C after a failed start) must not cut it either.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        log("stopped")


if __name__ == "__main__":
    sys.exit(main())
