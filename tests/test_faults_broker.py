"""The broker down at submit: tickets submitted through the API while Redis is stopped (killed, or
frozen so that it takes connections but never answers) are saved and answered 201 within seconds,
and reach the agent once Redis is back, through the periodic sweep; none is lost.

A private redis-server (its own port) is the broker of both the worker process and this test
process; the test kills it with SIGKILL, submits tickets, starts it again and runs the real
``sweep_stuck_tickets`` as Celery beat would.
"""

import threading
import time

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from agents.models import AgentRun
from agents.tasks import sweep_stuck_tickets
from governance.demo import demo_catalog_load
from governance.models import CatalogAction, SoftwareAssignment
from servicedesk.demo_org import demo_org_load
from servicedesk.models import Ticket, TicketStatus
from tests.fault_tools import (
    FAULTS_SKIP,
    RedisServer,
    Worker,
    broker_for_this_process,
    new_queue,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.django_db(transaction=True), FAULTS_SKIP]

# (requester, text, expected status)
DOWN_TICKETS = [
    ("alice", "please install Zoom", TicketStatus.RESOLVED),
    ("bob", "I need Slack on my laptop", TicketStatus.RESOLVED),
    ("carol", "please install 7-Zip", TicketStatus.RESOLVED),
    ("dave", "I need a licence for Tableau", TicketStatus.AWAITING_APPROVAL),
    ("erin", "my monitor is broken", TicketStatus.ESCALATED),
    ("frank", "please install Zoom", TicketStatus.RESOLVED),
]
FROZEN_TICKETS = [
    ("gwen", "I need Slack on my laptop", TicketStatus.RESOLVED),
    ("ivan", "I forgot my password", TicketStatus.RESOLVED),
]


def _post(client: APIClient, text: str) -> tuple[int, dict, float]:
    """POST in a thread, so a publish that hangs fails the test instead of blocking it."""
    result: dict = {}

    def post() -> None:
        t0 = time.monotonic()
        response = client.post("/api/tickets/", {"subject": text, "description": text}, format="json")
        result.update(status=response.status_code, body=response.json(), seconds=time.monotonic() - t0)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "submitting a ticket hung while the broker was down"
    return result["status"], result["body"], result["seconds"]


def _client(username: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.get(username=username))
    return client


def _decided(ids: list[int]) -> bool:
    return not Ticket.objects.filter(
        pk__in=ids, status__in=[TicketStatus.NEW, TicketStatus.TRIAGING]
    ).exists()


def test_tickets_submitted_while_the_broker_is_down_are_kept_and_handled_when_it_is_back(settings, tmp_path):
    demo_org_load(password="demo")
    demo_catalog_load()
    CatalogAction.objects.update(hourly_budget=100_000)
    redis = RedisServer(tmp_path)
    redis.start()
    queue = new_queue("faults-broker")
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.TICKET_STUCK_AFTER_SECONDS = 30
    worker = Worker(
        queue=queue,
        log_path=tmp_path / "worker.log",
        concurrency=1,
        env={"CELERY_BROKER_URL": redis.url, "AGENT_ENABLED": "true", "AGENT_LLM": "none"},
    )
    with broker_for_this_process(redis.url):
        worker.start()
        try:
            # The pipe works: a ticket submitted with the broker up is decided.
            status, body, _ = _post(_client("gwen"), "please install Zoom")
            assert status == 201
            wait_until(lambda: _decided([body["id"]]), timeout=240, what="the first ticket decided")

            redis.stop()
            submitted = []
            for username, text, expected in DOWN_TICKETS:
                status, body, seconds = _post(_client(username), text)
                assert status == 201, body
                assert body["status"] == TicketStatus.NEW
                submitted.append((body["id"], expected))
                print(f"submitted #{body['id']} with the broker down in {seconds:.1f}s")
            ids = [pk for pk, _ in submitted]
            assert Ticket.objects.filter(pk__in=ids, status=TicketStatus.NEW).count() == len(DOWN_TICKETS)
            # Beat's sweep while the broker is still down: it cannot send, and says so, per ticket.
            assert sweep_stuck_tickets() == 0

            redis.start()
            # Nothing reached the worker while the broker was down, and the restarted Redis is empty:
            # without the sweep these tickets would wait for ever.
            assert Ticket.objects.filter(pk__in=ids, status=TicketStatus.NEW).count() == len(DOWN_TICKETS)

            # A broker that takes connections but never answers (frozen): the request gives up on
            # the hand-over after a few seconds instead of hanging, and the ticket is kept.
            redis.freeze()
            for username, text, expected in FROZEN_TICKETS:
                status, body, seconds = _post(_client(username), text)
                assert (status, body["status"]) == (201, TicketStatus.NEW), body
                submitted.append((body["id"], expected))
                ids.append(body["id"])
                print(f"submitted #{body['id']} with the broker frozen in {seconds:.1f}s")
            redis.thaw()
            # Celery beat's job, every 2 s here: the tickets are handed over once they are
            # TICKET_STUCK_AFTER_SECONDS old.
            wait_until(
                lambda: sweep_stuck_tickets() >= 0 and _decided(ids),
                timeout=150,
                interval=2,
                what="the sweep to hand the tickets over and the agent to decide them",
            )
        finally:
            worker.stop()
            redis.stop()
            print(worker.log_tail())

    for pk, expected in submitted:
        ticket = Ticket.objects.get(pk=pk)
        assert ticket.status == expected, (ticket, ticket.status, ticket.escalation_detail)
        assert AgentRun.objects.filter(ticket=ticket).count() == 1  # reached the agent, once
    installed = set(SoftwareAssignment.objects.values_list("account__username", "software__name"))
    assert installed == {
        ("gwen", "Zoom"),
        ("alice", "Zoom"),
        ("bob", "Slack"),
        ("carol", "7-Zip"),
        ("frank", "Zoom"),
        ("gwen", "Slack"),
    }
