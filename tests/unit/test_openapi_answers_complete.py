"""Every answer SendFunction's code can give on a route is documented for it in openapi.json
(issue 28). The list is derived from the code, never written a second time: the exception handlers
the resolver really has (each called to see its status), the refusals raised on a route's call graph,
and those of the raw-body guards and the idempotency layer around it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from http import HTTPStatus
from typing import Any

import pytest

from local.openapi import DOCUMENT, ROOT

LAYER = ROOT / "layers" / "common" / "messaging"
HANDLER = ROOT / "functions" / "send" / "app.py"
METHODS = ("get", "post", "put", "patch", "delete")
# Deep enough to reach every refusal a route raises today (a template's 400 is 5 calls down).
CALL_DEPTH = 8

# Runs in a process of its own (SendFunction reads its configuration at import): each registered
# exception handler called with an instance of the class it catches; MessagingError carries its own.
_HANDLERS_PROBE = """
import json
from botocore.exceptions import BotoCoreError, ClientError
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from local.openapi import load_app

app = load_app()
from messaging.errors import MessagingError

samples = {
    RequestValidationError: RequestValidationError(errors=[]),
    ClientError: ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetItem"),
    BotoCoreError: BotoCoreError(),
    NotFoundError: NotFoundError(),
    Exception: RuntimeError("probe"),
}
statuses = {}
for cls, handler in app.exception_handler_manager.get_registered_handlers().items():
    if cls is MessagingError:
        continue
    statuses[cls.__name__] = handler(samples[cls]).status_code
print(json.dumps(statuses))
"""


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return document


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def _statuses() -> dict[str, int]:
    """MessagingError's subclasses by name, with the status each answers."""
    sys.path.insert(0, str(ROOT / "layers" / "common"))
    from messaging.errors import MessagingError

    return {cls.__name__: int(cls.status) for cls in MessagingError.__subclasses__()}


@cache
def _functions() -> dict[str, list[ast.FunctionDef]]:
    """Every function of the layer and of SendFunction, by name."""
    index: dict[str, list[ast.FunctionDef]] = {}
    for source in [*LAYER.rglob("*.py"), HANDLER]:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.FunctionDef):
                index.setdefault(node.name, []).append(node)
    return index


def _raised(function: ast.FunctionDef) -> set[int]:
    """The statuses of the MessagingErrors raised in this function's own body, and of the errors
    it answers itself (`proxy_error(HTTPStatus.X, ...)`)."""
    statuses = _statuses()
    found: set[int] = set()
    for node in ast.walk(function):
        exc = node.exc if isinstance(node, ast.Raise) else None
        if isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) and exc.func.id in statuses:
            found.add(statuses[exc.func.id])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "proxy_error":
            status = node.args[0] if node.args else None
            if isinstance(status, ast.Attribute) and status.attr in HTTPStatus.__members__:
                found.add(HTTPStatus[status.attr].value)
    return found


def _reachable_refusals(start: ast.FunctionDef) -> set[int]:
    """The refusals raised on `start`'s call graph, followed by name (a name defined at most twice
    in the code: `get`, `put`... are the stores' and the clients', which refuse nothing)."""
    found, seen, frontier = _raised(start), {id(start)}, [start]
    for _ in range(CALL_DEPTH):
        following: list[ast.FunctionDef] = []
        for function in frontier:
            for node in ast.walk(function):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                definitions = _functions().get(name, [])
                for definition in definitions if len(definitions) <= 2 else []:
                    if id(definition) not in seen:
                        seen.add(id(definition))
                        found |= _raised(definition)
                        following.append(definition)
        frontier = following
    return found


def _route_functions() -> Iterator[tuple[str, str, ast.FunctionDef]]:
    """Each route's handler function, with its method and path as the document writes them."""
    for source in sorted((LAYER / "api").glob("*_routes.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr in METHODS
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                ):
                    path = str(decorator.args[0].value).replace("<", "{").replace(">", "}")
                    yield decorator.func.attr, path, node


def _documented(spec: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(status) for status in spec["paths"][path][method]["responses"]}


def test_each_exception_handler_answer_is_documented_on_every_route(spec: dict[str, Any]) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _HANDLERS_PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # The last line: the handlers log (to stdout) before it.
    handled: dict[str, int] = json.loads(probe.stdout.strip().splitlines()[-1])
    # The probe saw the handlers (a refactor that stopped registering them would document nothing).
    assert set(handled) >= {"RequestValidationError", "ClientError", "NotFoundError", "Exception"}
    for name, operation in _operations(spec):
        documented = {int(status) for status in operation["responses"]}
        for exception, status in handled.items():
            if exception == "RequestValidationError" and not (operation.get("requestBody") or operation["parameters"]):
                continue
            assert status in documented, f"{name}: the {exception} handler's {status} is not documented"


def test_every_refusal_a_route_raises_is_documented_for_it(spec: dict[str, Any]) -> None:
    routes = list(_route_functions())
    assert {(method, path) for method, path, _ in routes} == {
        (name.split()[0].lower(), name.split()[1]) for name, _ in _operations(spec)
    }
    for method, path, function in routes:
        missing = _reachable_refusals(function) - _documented(spec, method, path)
        assert not missing, f"{method.upper()} {path} can answer {sorted(missing)}, undocumented"
    # The walk does reach what issue 28 found missing: the failures' forged nextToken.
    failures = next(f for m, p, f in routes if p.endswith("/failures"))
    assert 400 in _reachable_refusals(failures)


def test_the_guards_and_idempotency_answers_are_documented_where_they_apply(spec: dict[str, Any]) -> None:
    handler = _functions()["_respond"][0]
    around = _reachable_refusals(handler)
    # Everything the raw-body guards and the idempotency layer refuse with, and its own refusals.
    assert around >= {400, 409, 413, 415, 503}
    body_guards: set[int] = set()
    for guard in ("accept_json", "body_text", "check_json"):
        body_guards |= _reachable_refusals(_functions()[guard][0])
    assert body_guards >= {400, 413, 415}
    for name, operation in _operations(spec):
        documented = {int(status) for status in operation["responses"]}
        if operation.get("requestBody"):
            assert not body_guards - documented, f"{name}: the body guards' {sorted(body_guards - documented)}"
        if operation["operationId"] == "send":
            assert not around - documented, f"{name}: {sorted(around - documented)} around the resolver"


def test_api_gateways_own_answers_in_the_template_are_documented_on_every_route(spec: dict[str, Any]) -> None:
    from cfnlint.decode import decode_str

    template, _ = decode_str((ROOT / "template.yaml").read_text())
    body = template["Resources"]["MessagingApi"]["Properties"]["DefinitionBody"]
    gateway = {int(answer["statusCode"]) for answer in body["x-amazon-apigateway-gateway-responses"].values()}
    assert 429 in gateway
    for name, operation in _operations(spec):
        documented = {int(status) for status in operation["responses"]}
        assert gateway <= documented, f"{name}: API Gateway's {sorted(gateway - documented)}"
