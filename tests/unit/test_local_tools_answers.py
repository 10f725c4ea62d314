"""`make feedback` and `make sent` when something else answers on `make start`'s ports (another
program on port 5000, a proxy's HTML error page, sam local's text 502): one line saying so and exit 1,
never a traceback."""

from __future__ import annotations

import pytest

from local import feedback, sent
from tests.unit.test_cli_hostile_server import Hostile


@pytest.mark.parametrize("status", [200, 502])
def test_an_answer_that_is_not_json_is_one_line_and_exit_1(status: int, capsys: pytest.CaptureFixture[str]) -> None:
    page = b"<html><body>Internal server error</body></html>"
    with Hostile() as hostile:
        hostile.reply = lambda method, path: (status, {"Content-Type": "text/html"}, page)
        made = feedback.main(["--api", hostile.url, "--lambda-endpoint", hostile.url])
        listed = sent.main(["--moto", hostile.url, "--fcm", hostile.url, "--eum", hostile.url])

    err = capsys.readouterr().err
    assert (made, listed) == (1, 1)
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("failed: POST /send answered")
    assert "make start" in lines[0]
    assert lines[1].startswith("cannot read what was sent")
    assert "make start" in lines[1]
