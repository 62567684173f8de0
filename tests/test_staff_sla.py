"""SLA timers per priority, and the periodic task that escalates breached tickets once."""

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from servicedesk.models import (
    Comment,
    Notification,
    Priority,
    Queue,
    Role,
    SlaBreach,
    SlaKind,
    Ticket,
    TicketStatus,
    Visibility,
)
from tests.factories import TicketFactory, UserFactory
from workspace import services as staff_services
from workspace import sla
from workspace.tasks import escalate_sla_breaches

pytestmark = pytest.mark.django_db


def _ticket(*, hours: float, priority=Priority.NORMAL, queue="hardware", **fields):
    fields.setdefault("status", TicketStatus.ESCALATED)
    ticket = TicketFactory(priority=priority, queue=Queue.objects.team(queue), **fields)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=timezone.now() - timedelta(hours=hours))
    return Ticket.objects.get(pk=ticket.pk)


@pytest.fixture
def judy(db):
    return UserFactory(username="judy", roles=[Role.SERVICE_DESK, Role.SERVICE_DESK_LEAD])


def test_targets_come_from_the_settings():
    assert settings.SLA_TARGETS_MINUTES["urgent"] == {"first_response": 30, "resolution": 240}
    assert sla.target(Priority.HIGH, SlaKind.FIRST_RESPONSE) == timedelta(hours=1)
    assert sla.target(Priority.LOW, SlaKind.RESOLUTION) == timedelta(hours=72)
    assert settings.CELERY_BEAT_SCHEDULE["escalate-sla-breaches"] == {
        "task": "workspace.tasks.escalate_sla_breaches",
        "schedule": 300.0,
    }


def test_clock_states_over_a_tickets_life(alice):
    ticket = _ticket(hours=1, requester=alice)  # normal: first response due after 4 h
    now = timezone.now()
    first, resolution = sla.clocks(ticket)
    assert (first.due_at - ticket.created_at, resolution.due_at - ticket.created_at) == (
        timedelta(hours=4),
        timedelta(hours=24),
    )
    assert (first.state(now), sla.running_clock(ticket)) == ("ok", first)
    assert first.state(ticket.created_at + timedelta(hours=3, minutes=30)) == "warning"  # under 25% left
    assert first.state(ticket.created_at + timedelta(hours=5)) == "breached"
    ticket.first_response_at = ticket.created_at + timedelta(hours=5)
    assert sla.clocks(ticket)[0].state(now) == "missed"
    assert sla.running_clock(ticket).kind == SlaKind.RESOLUTION
    ticket.resolved_at = ticket.created_at + timedelta(hours=2)
    assert (sla.clocks(ticket)[1].state(now), sla.running_clock(ticket)) == ("met", None)


def test_database_and_python_agree_on_what_is_breached(alice):
    _ticket(hours=1, priority=Priority.URGENT, requester=alice)  # first response 30 min late
    _ticket(hours=1, priority=Priority.NORMAL, requester=alice)  # fine
    _ticket(
        hours=30, priority=Priority.LOW, requester=alice, first_response_at=timezone.now()
    )  # resolution ok
    _ticket(
        hours=80, priority=Priority.LOW, requester=alice, first_response_at=timezone.now()
    )  # resolution late
    now = timezone.now()
    in_sql = set(sla.breached(Ticket.objects.all(), now).values_list("pk", flat=True))
    in_python = {t.pk for t in Ticket.objects.all() if sla.breached_kinds(t, now)}
    assert in_sql == in_python
    assert len(in_sql) == 2
    ordered = list(sla.with_sla(Ticket.objects.all()).order_by("sla_due").values_list("pk", flat=True))
    by_python = sorted(Ticket.objects.all(), key=lambda t: sla.running_clock(t).due_at)
    assert ordered == [t.pk for t in by_python]


def test_waiting_on_the_requester_stops_the_resolution_clock(alice):
    """A question to the requester pauses the resolution clock; the reply adds the pause to the due time."""
    from servicedesk.services import _transition  # the one place every status change goes through
    from workspace.templatetags.staff_tags import sla_chip

    ticket = _ticket(hours=20, requester=alice, first_response_at=timezone.now())  # normal: 24 h
    asked = ticket.created_at + timedelta(hours=20)
    with mock.patch("django.utils.timezone.now", return_value=asked):
        _transition(ticket, TicketStatus.AWAITING_REQUESTER, actor=None, actor_kind="staff")
    assert (ticket.sla_paused_at, ticket.sla_paused_seconds) == (asked, 0)
    resolution = sla.clocks(ticket)[1]
    later = asked + timedelta(hours=10)  # would be 6 h past due without the pause
    assert resolution.state(later) == "paused"
    assert resolution.left(later) == resolution.due_at - asked  # what was left when it paused
    assert sla.breached_kinds(ticket, later) == []
    assert not sla.breached(Ticket.objects.filter(pk=ticket.pk), later).exists()
    assert sla_chip(resolution, later)["text"] == "Paused, 4h left"

    with mock.patch("django.utils.timezone.now", return_value=later):
        _transition(ticket, TicketStatus.IN_PROGRESS, actor=None, actor_kind="requester")
    assert (ticket.sla_paused_at, ticket.sla_paused_seconds) == (None, 10 * 3600)
    resolution = sla.clocks(ticket)[1]
    assert resolution.due_at == ticket.created_at + timedelta(hours=24 + 10)
    assert resolution.state(later) == "warning"  # 4 h of 24 h left
    assert resolution.state(later + timedelta(hours=5)) == "breached"
    for now in (later + timedelta(hours=3), later + timedelta(hours=5)):
        in_sql = sla.breached(Ticket.objects.filter(pk=ticket.pk), now).exists()
        assert in_sql == bool(sla.breached_kinds(ticket, now)) == (now > resolution.due_at)
    due = sla.with_sla(Ticket.objects.filter(pk=ticket.pk)).get().sla_due
    assert abs(due - resolution.due_at) < timedelta(seconds=1)


def test_a_second_pause_adds_to_the_first(alice):
    from servicedesk.services import _transition

    ticket = _ticket(hours=1, requester=alice, first_response_at=timezone.now())
    start = timezone.now()
    for offset, status in (
        (0, "awaiting_requester"),
        (2, "in_progress"),
        (3, "awaiting_requester"),
        (4, "in_progress"),
    ):
        with mock.patch("django.utils.timezone.now", return_value=start + timedelta(hours=offset)):
            _transition(ticket, status, actor=None, actor_kind="staff")
    assert ticket.sla_paused_seconds == 3 * 3600


def test_breached_ticket_goes_up_one_priority_and_the_lead_is_told_once(judy, alice):
    ticket = _ticket(hours=5, requester=alice, subject="Dock dead")  # normal: first response 1 h late
    _ticket(hours=1, requester=alice)  # within its targets
    assert staff_services.sla_breaches_escalate() == 1
    ticket.refresh_from_db()
    assert ticket.priority == Priority.HIGH
    breach = SlaBreach.objects.get()
    assert (breach.ticket, breach.kind, breach.priority_before, breach.priority_after) == (
        ticket,
        SlaKind.FIRST_RESPONSE,
        Priority.NORMAL,
        Priority.HIGH,
    )
    assert list(Notification.objects.values_list("recipient__username", "code", "text")) == [
        (
            "judy",
            "sla.breached",
            f"SLA missed on {ticket.reference} in Hardware (first response): priority raised to High",
        )
    ]
    note = Comment.objects.get(ticket=ticket)
    assert (note.visibility, note.body) == (
        Visibility.INTERNAL,
        "SLA missed (first response target): priority raised to High.",
    )
    assert staff_services.sla_breaches_escalate() == 0  # the same breach is not escalated twice
    assert (
        Ticket.objects.get(pk=ticket.pk).priority,
        SlaBreach.objects.count(),
        Notification.objects.count(),
    ) == (
        Priority.HIGH,
        1,
        1,
    )


def test_the_queues_own_lead_is_told_instead_of_every_lead(judy, alice):
    erin = UserFactory(username="erin", roles=[Role.SERVICE_DESK])
    Queue.objects.filter(slug="network").update(lead=erin)
    _ticket(hours=50, queue="network", requester=alice, first_response_at=timezone.now())  # resolution late
    escalate_sla_breaches()
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["erin"]
    assert SlaBreach.objects.get().kind == SlaKind.RESOLUTION


def test_both_targets_missed_at_once_count_as_one_step_up(judy, alice):
    ticket = _ticket(hours=30, requester=alice)
    staff_services.sla_breaches_escalate()
    assert sorted(SlaBreach.objects.values_list("kind", flat=True)) == ["first_response", "resolution"]
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.HIGH
    assert (
        Comment.objects.get().body
        == "SLA missed (first response and resolution target): priority raised to High."
    )


def test_resolved_and_urgent_tickets(judy, alice):
    _ticket(hours=30, requester=alice, status=TicketStatus.RESOLVED)
    urgent = _ticket(hours=2, priority=Priority.URGENT, requester=alice)
    staff_services.sla_breaches_escalate()
    assert list(SlaBreach.objects.values_list("ticket", flat=True)) == [urgent.pk]
    assert Ticket.objects.get(pk=urgent.pk).priority == Priority.URGENT
    assert Comment.objects.get().body == "SLA missed (first response target): priority stays Urgent."


def test_one_failing_ticket_does_not_stop_the_rest(judy, alice):
    first, second = _ticket(hours=6, requester=alice), _ticket(hours=7, requester=alice)
    real = staff_services._breach_record

    def flaky(ticket_id, now):
        if ticket_id == second.pk:
            raise RuntimeError("boom")
        return real(ticket_id, now)

    with mock.patch.object(staff_services, "_breach_record", side_effect=flaky):
        assert staff_services.sla_breaches_escalate() == 1
    assert list(SlaBreach.objects.values_list("ticket", flat=True)) == [first.pk]
    assert Ticket.objects.get(pk=second.pk).priority == Priority.NORMAL


def test_workspace_and_queue_show_the_timers(judy, alice, client):
    ticket = _ticket(hours=5, requester=alice)
    staff_services.sla_breaches_escalate()
    client.force_login(judy)
    page = client.get(f"/staff/tickets/{ticket.pk}/").content.decode()
    assert '<span class="sla sla-breached"' in page
    assert "Missed the first response target: priority Normal → High" in page
    queue = client.get("/staff/queues/hardware/").content.decode()
    assert '<span class="stat-n">1</span><span class="stat-l">past SLA</span>' in queue
