"""`messaging send <file>` with a body file that cannot be a body: not UTF-8, or larger than any the
API takes. Refused before anything is called (exit 2), naming the file, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from messaging_client import body, cli
from tests.unit.test_cli_hostile_server import Hostile


def test_a_body_file_not_utf8_or_too_large_is_refused_naming_it_and_nothing_is_called(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"messageTitle": "caf\xe9"}'.encode("latin-1"))
    monkeypatch.setattr(body, "MAX_BODY_FILE_BYTES", 100)
    huge = tmp_path / "huge.json"
    huge.write_text('{"messageContent": "' + "x" * 200 + '"}')

    with Hostile() as hostile:
        not_utf8 = cli.main(["--url", hostile.url, "send", str(latin), "-c", "email", "-r", "u"])
        not_utf8_err = capsys.readouterr().err
        too_large = cli.main(["--url", hostile.url, "send", str(huge), "-c", "email", "-r", "u"])
        too_large_err = capsys.readouterr().err
        assert hostile.calls == []

    assert (not_utf8, too_large) == (2, 2)
    assert not_utf8_err == f"messaging: {latin}: not UTF-8 text\n"
    assert too_large_err == f"messaging: {huge}: larger than 100 bytes, more than the API takes\n"
