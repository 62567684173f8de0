"""A ticket submitted through the API is handled by a real Celery worker process on the configured broker
(Redis in CI, the filesystem transport in the embedded setup) and reaches the General queue."""

import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait_for(api, url, predicate, timeout=90.0):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = api.get(url).json()
        if predicate(body):
            return body
        time.sleep(0.25)
    raise AssertionError(f"timed out; last state: {body}")


def test_submitted_ticket_reaches_general_queue_through_a_real_worker(api, worker):
    created = api.post(
        "/api/tickets/", {"subject": "Desk phone dead", "description": "No dial tone."}, format="json"
    )
    assert created.status_code == 201
    url = created.json()["url"]
    body = _wait_for(api, url, lambda b: b["status"] == "escalated")
    assert worker.poll() is None, "the worker died"
    assert body["queue"] == "general"
    assert body["queue_name"] == "General"
    assert body["escalation_reason"] == "agent_disabled"
    assert body["escalation_reason_display"] == "agent disabled"
    comments = api.get(f"{url}comments/").json()["results"]
    assert [c["author_kind"] for c in comments] == ["system"]
    assert "General team (agent disabled)" in comments[0]["body"]
