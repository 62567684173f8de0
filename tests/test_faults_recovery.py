"""The recovery rules the fault tests (tests/test_faults_*.py) depend on, one at a time and fast: a
duplicate delivery never re-decides or re-does anything, the sweep re-sends lost executions, two
runs of one execution never overlap, and the agent's locks cannot deadlock with a new ticket.

These run in the ordinary suite; the ones that need two database connections need PostgreSQL.
"""

import threading
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from django.utils import timezone

from agents import tasks
from agents.models import AgentRun
from agents.pipeline import Understanding
from agents.planner import PROPOSAL, Plan
from agents.router import RouterResult
from agents.services import agent_decision_apply, agent_run_failed
from agents.tasks import sweep_stuck_tickets
from core.models import AuditEvent
from governance import dispatch, executor
from governance.demo import demo_catalog_load
from governance.models import Execution, ExecutionStatus, SoftwareAssignment
from governance.types import Proposal
from servicedesk.demo_org import demo_org_load
from servicedesk.models import Ticket, TicketStatus
from servicedesk.services import ticket_submit
from tests.factories import TicketFactory
from tests.queue_seam import patch_task
from understanding.llm import ModelUnavailable

pytestmark = pytest.mark.django_db
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two database sessions at once: PostgreSQL only"
)

ZOOM = {"software": "Zoom"}


@pytest.fixture
def org(db):
    demo_org_load(password="demo")
    demo_catalog_load()
    return {user.username: user for user in User.objects.all()}


def _understanding() -> Understanding:
    route = RouterResult("act", "install_software", dict(ZOOM), reasons=("test",), queue="software")
    return Understanding(route, Plan(PROPOSAL, "install_software", dict(ZOOM), 0.9), 0.0)


def _triaging(user: User) -> Ticket:
    return TicketFactory(requester=user, subject="please install Zoom", status=TicketStatus.TRIAGING)


def test_a_second_decision_for_a_decided_round_is_dropped(org):
    """Two deliveries of one ticket triaged at once: the second to commit changes nothing."""
    ticket = _triaging(org["alice"])
    with patch_task("governance.tasks.run_execution"):
        first = agent_decision_apply(ticket_id=ticket.pk, understanding=_understanding(), seconds=0.1)
        events = AuditEvent.objects.count()
        second = agent_decision_apply(ticket_id=ticket.pk, understanding=_understanding(), seconds=0.1)
    assert first is not None and first.outcome == "execute"
    assert second is None
    assert AgentRun.objects.filter(ticket=ticket).count() == 1
    assert Execution.objects.filter(ticket=ticket).count() == 1
    assert AuditEvent.objects.count() == events
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.TRIAGING  # waiting for its execution, not escalated


def test_a_model_outage_in_a_duplicate_does_not_escalate_a_decided_ticket(org):
    ticket = _triaging(org["alice"])
    with patch_task("governance.tasks.run_execution"):
        agent_decision_apply(ticket_id=ticket.pk, understanding=_understanding(), seconds=0.1)
    run = agent_run_failed(ticket_id=ticket.pk, error=ModelUnavailable("timed out"), seconds=1.0, final=True)
    assert run.outcome == "error"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.TRIAGING and ticket.escalation_reason == ""


def test_the_sweep_resends_an_execution_whose_task_was_lost(org, settings):
    """Claimed, then the worker died before running it: the ticket would wait in triage for ever."""
    settings.TICKET_STUCK_AFTER_SECONDS = 60
    ticket = _triaging(org["bob"])
    with patch_task("governance.tasks.run_execution"):  # the message is lost
        dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=Proposal("install_software", dict(ZOOM)))
    AgentRun.objects.create(ticket=ticket, outcome="execute")  # decided: re-triage does nothing
    execution = Execution.objects.get(ticket=ticket)
    with patch_task("governance.tasks.run_execution") as send:
        sweep_stuck_tickets()
        assert send.call_count == 0  # claimed just now: it may still be on its way
        Execution.objects.filter(pk=execution.pk).update(started_at=timezone.now() - timedelta(minutes=2))
        Ticket.objects.filter(pk=ticket.pk).update(status_changed_at=timezone.now() - timedelta(minutes=2))
        with patch_task("agents.tasks.handle_ticket"):
            sweep_stuck_tickets()
    assert [c.kwargs["args"] for c in send.call_args_list] == [(execution.pk,)]
    executor.execution_run(execution_id=execution.pk)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    assert SoftwareAssignment.objects.filter(account__username="bob", software__name="Zoom").count() == 1


def test_the_sweep_does_not_pile_duplicates_behind_a_backlog(org, settings, monkeypatch):
    """New tickets older than the threshold wait behind a backlog (the worker was down): while the
    queue holds at least that many messages they are not re-sent; a ticket stuck in triage always is."""
    settings.TICKET_STUCK_AFTER_SECONDS = 60
    waiting = [TicketFactory(requester=org["alice"], status=TicketStatus.NEW) for _ in range(3)]
    taken = _triaging(org["bob"])
    Ticket.objects.update(status_changed_at=timezone.now() - timedelta(minutes=10))

    def sweep_with(backlog: int | None) -> list[int]:
        monkeypatch.setattr(tasks, "queue_length", lambda queue: backlog)
        with patch_task("agents.tasks.handle_ticket") as send:
            sweep_stuck_tickets()
        return sorted(c.kwargs["args"][0] for c in send.call_args_list)

    everything = sorted([*(t.pk for t in waiting), taken.pk])
    assert sweep_with(3) == [taken.pk]  # the three new ones are in the queue
    assert sweep_with(2) == everything  # fewer messages than new tickets: some were lost
    assert sweep_with(0) == everything
    assert sweep_with(None) == everything  # the broker cannot say: send


def test_queue_length_counts_the_messages_waiting_on_the_real_broker(settings):
    from config.celery import app

    queue = f"sweep-test-{uuid.uuid4().hex[:8]}"
    assert tasks.queue_length(queue) in (0, None)  # an unknown queue: none waiting
    try:
        for _ in range(3):
            tasks.handle_ticket.apply_async(args=(0,), queue=queue)
        assert tasks.queue_length(queue) == 3
    finally:
        with app.connection_for_write() as broker:
            broker.default_channel.queue_purge(queue)


def test_the_sweep_leaves_finished_executions_alone(org, settings):
    settings.TICKET_STUCK_AFTER_SECONDS = 60
    ticket = _triaging(org["bob"])
    with patch_task("governance.tasks.run_execution"):
        dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=Proposal("install_software", dict(ZOOM)))
    execution = Execution.objects.get(ticket=ticket)
    executor.execution_run(execution_id=execution.pk)
    Execution.objects.filter(pk=execution.pk).update(started_at=timezone.now() - timedelta(minutes=2))
    with patch_task("governance.tasks.run_execution") as send:
        assert sweep_stuck_tickets() == 0
    assert send.call_count == 0


def test_a_late_run_never_overwrites_a_finished_execution(org):
    """A run that passed the "not finished" check, then lost the race: the first outcome stands."""
    ticket = _triaging(org["bob"])
    with patch_task("governance.tasks.run_execution"):
        dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=Proposal("install_software", dict(ZOOM)))
    execution = Execution.objects.get(ticket=ticket)
    stale = Execution.objects.get(pk=execution.pk)  # what the late run read
    executor.execution_run(execution_id=execution.pk)
    events = AuditEvent.objects.count()
    executor._execution_fail(stale, "LDAP server unavailable", code="execution.failed")
    execution.refresh_from_db()
    ticket.refresh_from_db()
    assert (execution.status, ticket.status) == (ExecutionStatus.SUCCEEDED, TicketStatus.RESOLVED)
    assert AuditEvent.objects.count() == events


def _in_other_session(work, *, hold: threading.Event, release: threading.Event) -> threading.Thread:
    """Run ``work`` on another database connection; it signals ``hold`` and waits for ``release``."""

    def run() -> None:
        try:
            work(hold, release)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert hold.wait(10), "the other session did not get going"
    return thread


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_execution_never_overlap(org):
    ticket = _triaging(org["bob"])
    with patch_task("governance.tasks.run_execution"):
        dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=Proposal("install_software", dict(ZOOM)))
    execution = Execution.objects.get(ticket=ticket)

    def first_run(hold: threading.Event, release: threading.Event) -> None:
        with executor._execution_lease(execution.pk) as leased:
            assert leased
            hold.set()
            release.wait(10)

    hold, release = threading.Event(), threading.Event()
    thread = _in_other_session(first_run, hold=hold, release=release)
    try:
        executor.execution_run(execution_id=execution.pk)  # meets the first run: leaves it alone
        execution.refresh_from_db()
        assert (execution.status, execution.attempts) == (ExecutionStatus.STARTED, 0)
        assert not SoftwareAssignment.objects.exists()
    finally:
        release.set()
        thread.join(10)
    executor.execution_run(execution_id=execution.pk)  # the lease is free again
    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.SUCCEEDED, 1)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_the_agent_dispatching_a_ticket_does_not_block_the_requesters_next_ticket(org):
    """proposal_dispatch locked the requester's user row too (select_related + FOR UPDATE): a new
    ticket of the same person then waited at its commit (foreign-key check) while holding the audit
    chain's lock that the dispatch waited for, and PostgreSQL killed the agent's side."""
    alice = org["alice"]
    ticket = _triaging(alice)

    def run_dispatch(hold: threading.Event, release: threading.Event) -> None:
        real_decide = dispatch.decide

        def decide_then_wait(*args, **kwargs):
            hold.set()  # the ticket (and, before the fix, alice's user row) is locked now
            release.wait(10)
            return real_decide(*args, **kwargs)

        with (
            mock.patch("governance.dispatch.decide", side_effect=decide_then_wait),
            patch_task("governance.tasks.run_execution"),
        ):
            dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=Proposal("install_software", dict(ZOOM)))

    hold, release = threading.Event(), threading.Event()
    thread = _in_other_session(run_dispatch, hold=hold, release=release)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")
        with patch_task("agents.tasks.handle_ticket"), transaction.atomic():
            new = ticket_submit(requester=alice, subject="please install Slack", description="thanks")
    finally:
        release.set()
        thread.join(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert Ticket.objects.filter(pk=new.pk).exists()
    assert Execution.objects.filter(ticket=ticket).count() == 1
