"""DELETE /sends/{sendId} and GET /sends/{sendId} with odd ids, and a scheduler outage during a cancel."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.conftest import Servers
from tests.integration.async_sends import PATIENTS, Async
from tests.integration.test_scheduled_sends import _at, _delete, _scheduler


@pytest.mark.parametrize("send_id", ["x" * 5000, "\u00e9\u2603\u0000", "../x", "..%2F..%2Fetc", "a b", "send"])
def test_an_odd_send_id_is_a_404_never_a_500(run: Async, servers: Servers, send_id: str) -> None:
    status_code, answer = _delete(run, send_id)
    assert status_code == 404, answer
    assert run.get(f"/sends/{send_id}")[0] == 404
    assert run.get(f"/sends/{send_id}/failures")[0] == 404


def test_a_scheduler_outage_on_cancel_is_a_503_and_the_send_never_goes(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, answer = run.api({**PATIENTS, "sendAt": _at(600)})
    send_id = answer["sendId"]

    def outage(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerException", "Message": "down"}}, "DeleteSchedule")

    with monkeypatch.context() as patched:
        patched.setattr(run.send.parts.scheduler._client, "delete_schedule", outage)
        assert _delete(run, send_id)[0] == 503
    assert _delete(run, send_id)[1]["status"] == "cancelled"  # the caller's retry: the cancel held
    assert _scheduler(run, ahead_s=700).fire_due() == [send_id]  # the schedule left behind fires
    run.drain()
    assert run.status(send_id)["status"] == "cancelled"
    assert servers.outbox.emails() == []


def test_a_schedule_made_but_its_answer_lost_is_a_503_and_the_send_never_goes(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = run.send.parts.scheduler._client
    real_create = client.create_schedule

    def answer_lost(**kwargs: Any) -> Any:
        real_create(**kwargs)  # made, but the answer never came back
        raise ReadTimeoutError(endpoint_url="https://scheduler")

    with monkeypatch.context() as patched:
        patched.setattr(client, "create_schedule", answer_lost)
        status_code, answer = run.api({**PATIENTS, "sendAt": _at(600)})
    assert status_code == 503
    assert "nothing will be sent" in answer["message"]
    fired = _scheduler(run, ahead_s=700).fire_due()
    assert len(fired) == 1
    run.drain()
    assert run.status(fired[0])["status"] == "failed"
    assert servers.outbox.emails() == []
