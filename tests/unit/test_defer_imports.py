"""defer_imports.py's LOCAL_IMPORTS step on plain source text: a module it cannot rewrite faithfully
stops the layer's build, rather than ship a module that fails when first imported."""

from __future__ import annotations

import pytest
from defer_imports import PinnedFileChangedError, local_imports


def test_moved_imports_run_where_the_name_is_used_and_stay_readable_from_outside() -> None:
    source = "from json.decoder import JSONDecodeError\n\n\ndef kind(x):\n    return JSONDecodeError.__name__\n"
    namespace: dict[str, object] = {"__name__": "deferred"}
    exec(compile(local_imports(source, "json"), "deferred", "exec"), namespace)

    assert "JSONDecodeError" not in namespace
    assert namespace["kind"](1) == "JSONDecodeError"  # type: ignore[operator]


@pytest.mark.parametrize(
    "body",
    [
        # an import written before `elif` would end the `if`: a syntax error at the layer's first import
        "def f(x):\n    if x:\n        return 0\n    elif isinstance(x, JSONDecodeError):\n        return 1\n",
        # a second module __getattr__ would replace the module's own
        "def f():\n    return JSONDecodeError\n\n\ndef __getattr__(name):\n    return name\n",
    ],
)
def test_a_module_the_step_cannot_rewrite_faithfully_stops_the_build(body: str) -> None:
    with pytest.raises(PinnedFileChangedError):
        local_imports(f"from json.decoder import JSONDecodeError\n\n\n{body}", "json")
