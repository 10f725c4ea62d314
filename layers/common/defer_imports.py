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


def defer(target: Path) -> None:
    for relative, sha256 in LAZY_INITS.items():
        path = target / relative
        package = relative.removesuffix("/__init__.py").replace("/", ".")
        path.write_text(lazy_init(_checked(path, sha256), package))
    for relative, pinned, old, new in EDITS:
        path = target / relative
        text = _checked(path, pinned) if pinned else path.read_text()
        if text.count(old) != 1:
            raise PinnedFileChangedError(f"{path}: {old.strip()!r} not found once")
        path.write_text(text.replace(old, new))


if __name__ == "__main__":
    defer(Path(sys.argv[1]))
