from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from agents.services import ticket_triage
from agents.tasks import sweep_stuck_tickets
from servicedesk import services
from servicedesk.models import (
    AuthorKind,
    Comment,
    EscalationReason,
    Queue,
    StatusChange,
    Ticket,
    TicketStatus,
    Visibility,
)
from tests.factories import TicketFactory
from tests.queue_seam import patch_task

pytestmark = pytest.mark.django_db


def _statuses(ticket):
    return list(StatusChange.objects.filter(ticket=ticket).values_list("from_status", "to_status"))


def test_submit_saves_ticket_and_enqueues_exactly_one_task_after_commit(
    alice, django_capture_on_commit_callbacks
):
    with (
        patch_task("agents.tasks.handle_ticket") as send,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        ticket = services.ticket_submit(requester=alice, subject="  VPN broken ", description=" It fails. ")
        assert send.call_count == 0  # nothing is sent before the transaction commits
    assert len(callbacks) == 1
    send.assert_called_once_with(args=(ticket.pk,), queue="servicedesk")
    ticket.refresh_from_db()
    assert (ticket.subject, ticket.description, ticket.status) == (
        "VPN broken",
        "It fails.",
        TicketStatus.NEW,
    )
    assert _statuses(ticket) == [("", TicketStatus.NEW)]


def test_broker_down_at_submit_keeps_the_ticket_for_the_sweep(alice, django_capture_on_commit_callbacks):
    with (
        patch_task("agents.tasks.handle_ticket", side_effect=ConnectionError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        ticket = services.ticket_submit(requester=alice, subject="Printer", description="Jammed")
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.NEW


def test_sweep_re_enqueues_only_tickets_stuck_in_new_or_triaging(alice, settings):
    old = timezone.now() - timedelta(seconds=settings.TICKET_STUCK_AFTER_SECONDS + 5)
    stuck_new = TicketFactory(requester=alice)
    stuck_triaging = TicketFactory(requester=alice, status=TicketStatus.TRIAGING)
    fresh = TicketFactory(requester=alice)
    escalated = TicketFactory(requester=alice, status=TicketStatus.ESCALATED)
    Ticket.objects.filter(pk__in=[stuck_new.pk, stuck_triaging.pk, escalated.pk]).update(
        status_changed_at=old
    )
    with patch_task("agents.tasks.handle_ticket") as send:
        assert sweep_stuck_tickets() == 2
    sent = sorted(call.kwargs["args"][0] for call in send.call_args_list)
    assert sent == sorted([stuck_new.pk, stuck_triaging.pk])
    assert fresh.pk not in sent


def test_triage_with_agent_disabled_escalates_to_general_with_reason(alice, settings):
    settings.AGENT_ENABLED = False
    ticket = TicketFactory(requester=alice)
    ticket_triage(ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ESCALATED
    assert ticket.queue.slug == "general"
    assert ticket.escalation_reason == EscalationReason.AGENT_DISABLED
    assert ticket.get_escalation_reason_display() == "agent disabled"
    assert _statuses(ticket) == [
        (TicketStatus.NEW, TicketStatus.TRIAGING),
        (TicketStatus.TRIAGING, TicketStatus.ESCALATED),
    ]
    [notice] = Comment.objects.filter(ticket=ticket)
    assert notice.author_kind == AuthorKind.SYSTEM and notice.visibility == Visibility.PUBLIC
    assert "General team (agent disabled)" in notice.body


def test_triage_delivered_twice_acts_once(alice, settings):
    settings.AGENT_ENABLED = False
    ticket = TicketFactory(requester=alice)
    ticket_triage(ticket_id=ticket.pk)
    ticket_triage(ticket_id=ticket.pk)
    assert Comment.objects.filter(ticket=ticket).count() == 1
    assert StatusChange.objects.filter(ticket=ticket).count() == 2


def test_triage_that_keeps_dying_is_escalated_after_three_attempts(alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.TRIAGING, triage_attempts=3)
    ticket_triage(ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ESCALATED
    assert ticket.escalation_reason == EscalationReason.AGENT_FAILED
    assert ticket.escalation_detail == "no decision after 3 attempts"


def test_triage_of_a_missing_ticket_does_nothing(db):
    ticket_triage(ticket_id=999_999)
    assert Ticket.objects.count() == 0


def test_stale_ticket_object_loses_the_race(alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.CLOSED)  # someone else closed it
    with pytest.raises(services.TicketError, match="changed by someone else"):
        services._transition(ticket, TicketStatus.REOPENED, actor=alice, actor_kind=AuthorKind.REQUESTER)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.CLOSED


def test_reply_to_agent_question_sends_ticket_back_to_triage(alice, django_capture_on_commit_callbacks):
    ticket = TicketFactory(requester=alice, status=TicketStatus.AWAITING_REQUESTER, triage_attempts=1)
    with (
        patch_task("agents.tasks.handle_ticket") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.comment_add_reply(ticket=ticket, author=alice, body="The finance-reports share")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.TRIAGING
    assert ticket.triage_attempts == 0
    send.assert_called_once_with(args=(ticket.pk,), queue="servicedesk")


def test_reply_on_closed_ticket_is_refused_and_saves_nothing(alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.CLOSED)
    with pytest.raises(services.TicketError, match="closed"):
        services.comment_add_reply(ticket=ticket, author=alice, body="hello?")
    assert Comment.objects.count() == 0


def test_confirm_closes_resolved_ticket_only(alice):
    escalated = TicketFactory(requester=alice, status=TicketStatus.ESCALATED)
    with pytest.raises(services.TicketError, match="Only a resolved ticket"):
        services.ticket_confirm_resolution(ticket=escalated, user=alice)
    resolved = TicketFactory(requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    services.ticket_confirm_resolution(ticket=resolved, user=alice)
    resolved.refresh_from_db()
    assert resolved.status == TicketStatus.CLOSED
    assert resolved.closed_at is not None


def test_reopen_within_window_goes_to_a_human_queue(alice):
    ticket = TicketFactory(
        requester=alice,
        status=TicketStatus.RESOLVED,
        resolved_at=timezone.now() - timedelta(days=6, hours=23),
    )
    services.ticket_reopen(ticket=ticket, user=alice, reason="Still locked out")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.REOPENED
    assert ticket.reopened_count == 1
    assert ticket.queue.slug == "general"
    assert ticket.resolved_at is None
    assert Comment.objects.get(ticket=ticket).body == "Reopened: Still locked out"


def test_reopen_after_seven_days_is_refused(alice):
    ticket = TicketFactory(
        requester=alice,
        status=TicketStatus.RESOLVED,
        resolved_at=timezone.now() - timedelta(days=7, minutes=1),
    )
    with pytest.raises(services.TicketError, match="more than 7 days ago"):
        services.ticket_reopen(ticket=ticket, user=alice, reason="Broken again")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    assert ticket.reopened_count == 0


def test_close_resolved_tickets_after_the_reopen_window(alice):
    old = TicketFactory(
        requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now() - timedelta(days=8)
    )
    recent = TicketFactory(requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    assert services.tickets_close_resolved(older_than_days=7) == 1
    assert Ticket.objects.get(pk=old.pk).status == TicketStatus.CLOSED
    assert Ticket.objects.get(pk=recent.pk).status == TicketStatus.RESOLVED


def test_unexpected_agent_error_escalates_with_the_reason(alice, settings):
    ticket = TicketFactory(requester=alice)
    with mock.patch("agents.services._triage", side_effect=RuntimeError("boom")):
        ticket_triage(ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ESCALATED
    assert ticket.escalation_reason == EscalationReason.AGENT_FAILED
    assert ticket.escalation_detail == "internal error (RuntimeError)"


def test_escalation_recreates_a_deleted_team_queue(alice, settings):
    settings.AGENT_ENABLED = False
    Queue.objects.filter(slug="general").delete()
    ticket = TicketFactory(requester=alice)
    ticket_triage(ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.queue.name) == (TicketStatus.ESCALATED, "General")


def test_submit_records_ticket_received_without_its_text(alice):
    from core.models import AuditEvent

    ticket = services.ticket_submit(
        requester=alice, subject="My password is Hunter2!", description="secret: Hunter2!"
    )
    event = AuditEvent.objects.get(code="ticket.received")
    assert (event.ticket_id, event.actor_kind, event.actor_label) == (ticket.pk, "user", "alice")
    assert event.data == {"subject_chars": 23, "description_chars": 16}
    assert "Hunter2" not in str(event.data) + event.actor_label
