"""Run by the layer's Makefile on the installed packages: a few third-party modules do work at import
that no request needs (package `__init__`s importing whole subsystems no function of the service
uses, patterns only rare addresses reach); here that work moves to first use. Those imports become
PEP 562 module `__getattr__`s and those patterns compile when first matched, so every public name
is still there and behaves the same.

Each file is pinned by its SHA-256: a new version of the package stops the build here, to be
reviewed (and its hash updated) rather than edited blindly. What each deferral saves is in
docs/performance.md (Cold start)."""

from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

# Package `__init__`s whose `from .submodule import Name` lines (all but those of KEEP) load lazily.
LAZY_INITS = {
    # Powertools' event handler package imports every resolver (AppSync with asyncio, Bedrock agents,
    # VPC Lattice...); the service uses API Gateway's.
    "aws_lambda_powertools/event_handler/__init__.py": (
        "a28019de568b8d5e385b0837e023f863540352be9c18d146ed0d8679ea21f478"
    ),
    # ...and api_gateway imports the event data classes package, which imports ~30 event sources.
    "aws_lambda_powertools/utilities/data_classes/__init__.py": (
        "4a714523dbc633fdbc641585f5e81b1d8850a5c9fd89bfc6f2e16e4f71abaf9f"
    ),
}
KEEP = {"aws_lambda_powertools.event_handler.api_gateway"}

# Modules whose imports from a package (the second item) are used only inside functions: each such
# import moves into the functions that use it. botocore's and boto3's clients and resources give each
# method a docstring generated when first read (help(), Sphinx): the classes come from
# `docs.docstring`, whose module and package imported the whole documentation generator (reST
# writer, example and shape documenters, html.parser) with them: 25-30 ms of a cold start.
LOCAL_IMPORTS = {
    "botocore/docs/__init__.py": ("331c7a7a2cbbebe4b13e952c3cc50fa074be5a3cbc323d600dfae8c02bb44b85", "botocore.docs"),
    "botocore/docs/docstring.py": ("268f650386453eaef970d0947e9cfbcd689794307e0a7ddb3fad9c66f067b5f0", "botocore.docs"),
    "boto3/docs/__init__.py": ("40ce4e2bc0d2f2e80a244d877c8d4163d80546f8fba7b47219054dd4c2cb6482", "boto3.docs"),
    "boto3/docs/docstring.py": ("a0fba06ae6dd01763a68d6be917188e7594fd71136b380277d3b0b8626dfefe1", "boto3.docs"),
    # importlib.metadata (with zipfile, tempfile, shutil, bz2, lzma: 10-15 ms) is read by pydantic's plugin
    # lookup, which template.yaml turns off (PYDANTIC_DISABLE_PLUGINS: no plugin is installed), by
    # pymongo only for client-side encryption's version check, by wrapt only for entry-point import
    # hooks (wrapt/importer.py, edited below)...
    "pydantic/plugin/_loader.py": (
        "42eb42a853c5465b1059bb26e4dbff53a4997c5d1437cb36b5f25e4d3c144944",
        "importlib.metadata",
    ),
    "pymongo/common.py": ("9c3a2e134efacf4f39225f4a68de24a36c45e15b37e772b58e2e76ec51296dfc", "importlib.metadata"),
    # ...and by urllib3 only to check h2's version when HTTP/2 is turned on (inject_into_urllib3).
    "urllib3/http2/__init__.py": (
        "c73ac0487ed1e4035190f24ea2de651a70133aadca2aec97cc8e36adc9f09aab",
        "importlib.metadata",
    ),
}
# ...but not the base class of boto3's docstrings.
KEEP_IMPORTS = {"botocore.docs.docstring"}

# Exact edits: (file, its SHA-256, text replaced, replacement).
EDITS = [
    (
        # boto3 imports s3transfer (and multiprocessing) at import for one flag only its S3 transfer
        # methods read; clients never need it.
        "boto3/compat.py",
        "6254155cebdd24ddfd9b5de04bc59f549a876f30b0ddf1259db62bb756de3588",
        "from s3transfer.manager import TransferConfig\n",
        "",
    ),
    (
        "boto3/compat.py",
        None,
        "TRANSFER_CONFIG_SUPPORTS_CRT = hasattr(TransferConfig, 'UNSET_DEFAULT')\n",
        "def __getattr__(name):\n"
        "    if name == 'TRANSFER_CONFIG_SUPPORTS_CRT':\n"
        "        from s3transfer.manager import TransferConfig\n"
        "        return hasattr(TransferConfig, 'UNSET_DEFAULT')\n"
        "    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')\n",
    ),
    (
        # pymongo imports its asynchronous client (another copy of the driver) beside the synchronous one.
        "pymongo/__init__.py",
        "efcae712e9c8daa3f76ec5dfe83a27a4b389da81f9925491f0de40e85eb5b63b",
        "from pymongo.asynchronous.mongo_client import AsyncMongoClient\n",
        "",
    ),
    (
        "pymongo/__init__.py",
        None,
        'version = __version__\n"""Current version of PyMongo."""\n',
        'version = __version__\n"""Current version of PyMongo."""\n\n\n'
        "def __getattr__(name):\n"
        "    if name == 'AsyncMongoClient':\n"
        "        from pymongo.asynchronous.mongo_client import AsyncMongoClient\n\n"
        "        return AsyncMongoClient\n"
        "    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')\n",
    ),
    (
        # email-validator compiles three patterns spanning U+0080-U+10FFFF at import (5 ms each: re walks
        # the whole BMP); only internationalized or quoted local parts reach them: compiled on first use.
        "email_validator/rfc_constants.py",
        "2e15220592c1c3f367f8a1e41fefa7570396165833d9a0ae6ae8fdf194a5fa09",
        "import re\n",
        "import re\n\n\n"
        "class _OnFirstUse:\n"
        "    def __init__(self, pattern):\n"
        "        self._pattern = pattern\n"
        "        self._compiled = None\n\n"
        "    def __getattr__(self, name):\n"
        "        if self._compiled is None:\n"
        "            self._compiled = re.compile(self._pattern)\n"
        "        return getattr(self._compiled, name)\n",
    ),
    *(
        ("email_validator/rfc_constants.py", None, f"\n{name} = re.compile(", f"\n{name} = _OnFirstUse(")
        for name in ("ATEXT_INTL_DOT_RE", "DOT_ATOM_TEXT_INTL", "QTEXT_INTL")
    ),
    (
        # The class every domain's characters go through, [a-zA-Z0-9-.] and U+0080-U+10FFFF, written as
        # its complement in ASCII: the same characters, compiled in 0.1 ms instead of 7.
        "email_validator/rfc_constants.py",
        None,
        'ATEXT_HOSTNAME_INTL = re.compile(r"[a-zA-Z0-9\\-\\." + "\\u0080-\\U0010FFFF" + "]")\n',
        'ATEXT_HOSTNAME_INTL = re.compile(r"[^\\x00-\\x2c\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f]")\n',
    ),
    (
        "wrapt/importer.py",
        "2ac24f83748f1f41a33cf2ea3a3dc52d51d1b824caa33fbb6f06f85b8a8fd1e1",
        "\nimport importlib.metadata\n",
        "\nimport importlib\n",
    ),
    (
        "wrapt/importer.py",
        None,
        "    try:\n        # Python 3.10+ style with select parameter\n",
        "    import importlib.metadata\n\n    try:\n        # Python 3.10+ style with select parameter\n",
    ),
    (
        # handlebarrz's package imports structlog (15-20 ms) for the logger of its Python wrapper; the
        # service uses only its native module (messaging/templates/native.py): structlog loads with the
        # wrapper's first log line.
        "handlebarrz/__init__.py",
        "ff02b5093b2fdcd997710db4265d70be7ff3d7d40db076c6bab32e5d97008d32",
        "import structlog\n",
        "",
    ),
    (
        "handlebarrz/__init__.py",
        None,
        "logger = structlog.get_logger(__name__)\n",
        "class _LoggerOnFirstUse:\n"
        "    def __getattr__(self, name):\n"
        "        import structlog\n\n"
        "        global logger\n"
        "        logger = structlog.get_logger(__name__)\n"
        "        return getattr(logger, name)\n\n\n"
        "logger = _LoggerOnFirstUse()\n",
    ),
]


class PinnedFileChangedError(Exception):
    pass


def _checked(path: Path, sha256: str) -> str:
    text = path.read_text()
    if hashlib.sha256(text.encode()).hexdigest() != sha256:
        raise PinnedFileChangedError(f"{path}: not the pinned version; review layers/common/defer_imports.py")
    return text


def lazy_init(text: str, package: str) -> str:
    """The `__init__` with its submodule imports (but KEEP's, and a name equal to its submodule's,
    which importing the submodule would shadow) replaced by one `__getattr__`."""
    lines = text.splitlines(keepends=True)
    lazy: dict[str, str] = {}
    for node in reversed(ast.parse(text).body):
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        module = f"{package}.{node.module}" if node.level else node.module
        if not module.startswith(f"{package}.") or module in KEEP:
            continue
        if any(alias.name == module.rsplit(".", 1)[-1] or alias.asname for alias in node.names):
            continue
        lazy.update({alias.name: module for alias in node.names})
        del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines) + (
        f"\n\n_LAZY = {dict(sorted(lazy.items()))!r}\n\n\n"
        "def __getattr__(name):\n"
        "    if name in _LAZY:\n"
        "        import importlib\n\n"
        "        value = getattr(importlib.import_module(_LAZY[name]), name)\n"
        "        globals()[name] = value\n"
        "        return value\n"
        "    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')\n"
    )


def local_imports(text: str, package: str) -> str:
    """The module with its top-level `from <package>[.x] import ...` lines (but KEEP_IMPORTS') moved
    to just before each statement in a function that uses those names, and the names still there for
    other modules through a `__getattr__`."""
    tree = ast.parse(text)
    if any(isinstance(node, ast.FunctionDef) and node.name == "__getattr__" for node in tree.body):
        raise PinnedFileChangedError("the module has a __getattr__ of its own")
    moved: dict[str, str] = {}
    edits: list[tuple[int, int, str]] = []  # (first line, last line replaced, text)
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or node.module is None or node.module in KEEP_IMPORTS:
            continue
        if f"{node.module}.".startswith(f"{package}."):
            moved.update({alias.asname or alias.name: node.module for alias in node.names})
            edits.append((node.lineno, node.end_lineno or node.lineno, ""))
    lines = text.splitlines(keepends=True)
    for statement, names in _uses(tree, set(moved)).items():
        indent = lines[statement.lineno - 1][: statement.col_offset]
        if indent.strip():
            raise PinnedFileChangedError(f"line {statement.lineno}: not a statement of its own line")
        imports = "".join(f"{indent}from {moved[name]} import {name}\n" for name in sorted(names))
        edits.append((statement.lineno, statement.lineno - 1, imports))
    for first, last, new in sorted(edits, reverse=True):
        lines[first - 1 : last] = [new]
    rewritten = "".join(lines) + (
        f"\n\n_LAZY = {dict(sorted(moved.items()))!r}\n\n\n"
        "def __getattr__(name):\n"
        "    if name in _LAZY:\n"
        "        import importlib\n\n"
        "        return getattr(importlib.import_module(_LAZY[name]), name)\n"
        "    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')\n"
    )
    try:  # an import put before an `elif`, say: the layer is built --no-compile, so check here
        compile(rewritten, package, "exec")
    except SyntaxError as exc:
        raise PinnedFileChangedError(f"line {exc.lineno}: the moved imports break the module") from exc
    return rewritten


def _uses(tree: ast.Module, names: set[str]) -> dict[ast.stmt, set[str]]:
    """The innermost statements, inside function bodies, that use any of `names` as globals (not
    where a function binds the name itself); a use run at import (module or class level, a
    decorator, a default) stops the build."""
    uses: dict[ast.stmt, set[str]] = {}
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

    def visit(node: ast.AST, statement: ast.stmt | None, in_function: bool, local: frozenset[str]) -> None:
        if isinstance(node, ast.stmt):
            statement = node
        if isinstance(node, ast.Name) and node.id in names and node.id not in local:
            if statement is None or not in_function or isinstance(statement, definitions):
                raise PinnedFileChangedError(f"line {node.lineno}: {node.id} is used at import")
            uses.setdefault(statement, set()).add(node.id)
        for child in ast.iter_child_nodes(node):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and child in node.body:
                visit(child, statement, True, local | _bound(node))
            else:
                visit(child, statement, in_function, local)

    visit(tree, None, False, frozenset())
    return uses


def _bound(function: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
    """The names a function binds itself: its parameters and what its own body assigns or imports."""
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.comprehension)
    bound = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        if isinstance(node, scopes):
            if not isinstance(node, ast.comprehension):
                bound.add(getattr(node, "name", ""))
            continue
        pending.extend(ast.iter_child_nodes(node))
    return frozenset(bound)


def defer(target: Path) -> None:
    for relative, sha256 in LAZY_INITS.items():
        path = target / relative
        package = relative.removesuffix("/__init__.py").replace("/", ".")
        path.write_text(lazy_init(_checked(path, sha256), package))
    for relative, (sha256, package) in LOCAL_IMPORTS.items():
        path = target / relative
        path.write_text(local_imports(_checked(path, sha256), package))
    for relative, pinned, old, new in EDITS:
        path = target / relative
        text = _checked(path, pinned) if pinned else path.read_text()
        if text.count(old) != 1:
            raise PinnedFileChangedError(f"{path}: {old.strip()!r} not found once")
        path.write_text(text.replace(old, new))


if __name__ == "__main__":
    defer(Path(sys.argv[1]))
