"""Every write the staff workspace makes, one transaction each; statuses move only through ``states``.

Staff changes that the requester should know about (public replies, status changes) notify them in
the product and by email; internal notes and assignment events never do.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from core.locks import row_lock_or_none
from servicedesk.models import (
    AuthorKind,
    Comment,
    Priority,
    Queue,
    ResolverKind,
    Role,
    RoutingChange,
    SlaBreach,
    SlaKind,
    Ticket,
    TicketStatus,
    TicketView,
    Visibility,
    WorkKind,
    WorkLog,
)
from servicedesk.notifications import notification_send
from servicedesk.roles import is_staff_member
from servicedesk.services import TicketError, comment_add_note, ticket_transition
from servicedesk.states import QUEUE_STATUSES, STAFF_SETTABLE
from workspace import sla

logger = logging.getLogger(__name__)


PRIORITY_UP = {
    Priority.LOW: Priority.NORMAL,
    Priority.NORMAL: Priority.HIGH,
    Priority.HIGH: Priority.URGENT,
    Priority.URGENT: Priority.URGENT,
}


# One claim-to-resolve span counts at most this long (a ticket left claimed over a weekend is not
# 60 hours of work); the managers' metrics cap their own estimate the same way.
SPAN_CAP = timedelta(hours=8)


def display_name(user: User | None) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


def ticket_locked(ticket_id: int) -> Ticket:
    ticket = row_lock_or_none(Ticket, ticket_id, no_key=True)
    if ticket is None:
        raise TicketError("No such ticket.")
    return ticket


def _status_words(status: str) -> str:
    return TicketStatus(status).label.lower()


def timeline_note(ticket: Ticket, actor: User | None, text: str) -> None:
    """A line in the staff timeline (an internal system note): never shown to the requester."""
    comment_add_note(ticket=ticket, author=actor, body=text)


def requester_notify(ticket: Ticket, code: str, text: str) -> None:
    notification_send(
        recipient=ticket.requester,
        ticket=ticket,
        code=code,
        text=text,
        url=reverse("servicedesk:ticket_detail", kwargs={"ticket_id": ticket.pk}),
    )


def _set_status(ticket: Ticket, to: str, *, actor: User | None, note: str = "", **fields: Any) -> None:
    """Move the ticket through the state table and tell the requester."""
    ticket_transition(ticket=ticket, to=to, actor=actor, actor_kind=AuthorKind.STAFF, **fields)
    label = TicketStatus(to).label
    requester_notify(
        ticket, "ticket.status_changed", f"{ticket.reference} is now “{label}”{note}: {ticket.subject}"
    )


def _open_span(ticket: Ticket, user: User, now: datetime) -> None:
    open_spans = WorkLog.objects.filter(ticket=ticket, user=user, kind=WorkKind.HANDLING, ended_at=None)
    if not open_spans.exists():
        WorkLog.objects.create(ticket=ticket, user=user, kind=WorkKind.HANDLING, started_at=now)


def _close_spans(ticket: Ticket, now: datetime, *, user: User | None = None) -> None:
    """End the open handling spans on the ticket (of one user, or everyone's)."""
    spans = WorkLog.objects.filter(ticket=ticket, kind=WorkKind.HANDLING, ended_at=None)
    if user is not None:
        spans = spans.filter(user=user)
    for span in spans:
        elapsed = min(max(now - span.started_at, timedelta(0)), SPAN_CAP)
        span.ended_at, span.seconds = now, int(elapsed.total_seconds())
        span.save(update_fields=["ended_at", "seconds"])
    _handling_update(ticket)


def _handling_update(ticket: Ticket) -> None:
    """``Ticket.handling_seconds``, the staff time the metrics count: the minutes staff logged on
    replies when they logged any (what they say they spent), else the closed claim-to-resolve spans."""
    totals = dict(
        WorkLog.objects.filter(ticket=ticket, ended_at__isnull=False)
        .values_list("kind")
        .annotate(total=Sum("seconds"))
        .order_by()
    )
    seconds = totals.get(WorkKind.LOGGED) or totals.get(WorkKind.HANDLING) or 0
    Ticket.objects.filter(pk=ticket.pk).update(handling_seconds=seconds)


def _require_open(ticket: Ticket, what: str) -> None:
    if ticket.status not in QUEUE_STATUSES:
        raise TicketError(f"A ticket that is {_status_words(ticket.status)} cannot be {what}.")


@transaction.atomic
def ticket_assign(*, ticket_id: int, assignee: User, actor: User) -> Ticket:
    """Give the ticket to a staff member (the actor claiming it, or a colleague). Starts their
    handling time; an escalated or reopened ticket becomes in progress."""
    ticket = ticket_locked(ticket_id)
    _require_open(ticket, "assigned")
    if not assignee.is_active or not is_staff_member(assignee):
        raise TicketError(f"{display_name(assignee)} is not on the service desk.")
    now = timezone.now()
    if ticket.assignee_id != assignee.pk:
        if ticket.assignee is not None:
            _close_spans(ticket, now, user=ticket.assignee)
        Ticket.objects.filter(pk=ticket.pk).update(assignee=assignee, updated_at=now)
        ticket.assignee = assignee
        verb = "claimed the ticket" if assignee == actor else f"assigned it to {display_name(assignee)}"
        timeline_note(ticket, actor, f"{display_name(actor)} {verb}.")
    _open_span(ticket, assignee, now)
    if ticket.status in (TicketStatus.ESCALATED, TicketStatus.REOPENED):
        _set_status(ticket, TicketStatus.IN_PROGRESS, actor=actor)
    return ticket


def ticket_claim(*, ticket_id: int, user: User) -> Ticket:
    return ticket_assign(ticket_id=ticket_id, assignee=user, actor=user)


@transaction.atomic
def staff_comment_add(
    *, ticket_id: int, author: User, body: str, internal: bool, minutes: int = 0
) -> Comment:
    """A public reply (the requester is told; the first one is the first response) or an internal
    note (never shown to the requester, never notified). ``minutes``: time the author logs."""
    ticket = ticket_locked(ticket_id)
    body = body.strip()
    if not body:
        raise TicketError("Please write a reply or a note.")
    if ticket.status == TicketStatus.CLOSED and not internal:
        raise TicketError("This ticket is closed: the requester can no longer be replied to here.")
    comment = Comment.objects.create(
        ticket=ticket,
        author=author,
        author_kind=AuthorKind.STAFF,
        visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
        body=body,
    )
    now = timezone.now()
    if not internal:
        Ticket.objects.filter(pk=ticket.pk, first_response_at__isnull=True).update(first_response_at=now)
        text = f"{display_name(author)} replied on {ticket.reference}: {ticket.subject}"
        requester_notify(ticket, "ticket.replied", text)
    if minutes > 0:
        WorkLog.objects.create(
            ticket=ticket,
            user=author,
            kind=WorkKind.LOGGED,
            started_at=now,
            ended_at=now,
            seconds=minutes * 60,
            comment=comment,
        )
        _handling_update(ticket)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=now)
    return comment


@transaction.atomic
def ticket_priority_set(*, ticket_id: int, priority: str, actor: User) -> Ticket:
    ticket = ticket_locked(ticket_id)
    if priority not in Priority.values:
        raise TicketError(f"Unknown priority {priority!r}.")
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise TicketError(f"A {_status_words(ticket.status)} ticket keeps its priority.")
    if ticket.priority != priority:
        before = ticket.get_priority_display()
        Ticket.objects.filter(pk=ticket.pk).update(priority=priority, updated_at=timezone.now())
        ticket.priority = priority
        timeline_note(
            ticket,
            actor,
            f"{display_name(actor)} changed the priority from {before} to {Priority(priority).label}.",
        )
    return ticket


@transaction.atomic
def ticket_status_set(*, ticket_id: int, status: str, actor: User) -> Ticket:
    """In progress (someone works on it), awaiting the requester (their answer comes back to the
    assignee, not to the agent), or back to the queue (unassigned)."""
    if status not in STAFF_SETTABLE:
        raise TicketError("Use Resolve or Reopen for that.")
    ticket = ticket_locked(ticket_id)
    now = timezone.now()
    fields: dict[str, Any] = {}
    if status == TicketStatus.ESCALATED:
        _close_spans(ticket, now)
        fields["assignee"] = None
    elif ticket.assignee is None:
        fields["assignee"] = actor
        _open_span(ticket, actor, now)
    _set_status(ticket, status, actor=actor, **fields)
    return ticket


@transaction.atomic
def ticket_resolve(*, ticket_id: int, actor: User, message: str = "", minutes: int = 0) -> Ticket:
    """Resolve, with an optional public reply saying what was done; ends everyone's handling time."""
    ticket = ticket_locked(ticket_id)
    if ticket.status not in QUEUE_STATUSES:
        raise TicketError(f"A ticket that is {_status_words(ticket.status)} cannot be resolved.")
    if message.strip():
        staff_comment_add(ticket_id=ticket.pk, author=actor, body=message, internal=False, minutes=minutes)
    now = timezone.now()
    _close_spans(ticket, now)
    _set_status(
        ticket,
        TicketStatus.RESOLVED,
        actor=actor,
        note=f" ({display_name(actor)})",
        resolver_kind=ResolverKind.STAFF,
        resolved_at=now,
        assignee=ticket.assignee or actor,
    )
    return ticket


@transaction.atomic
def ticket_reopen_by_staff(*, ticket_id: int, actor: User, reason: str) -> Ticket:
    ticket = ticket_locked(ticket_id)
    if ticket.status != TicketStatus.RESOLVED:
        raise TicketError("Only a resolved ticket can be reopened.")
    if not reason.strip():
        raise TicketError("Please say why the ticket is reopened.")
    _set_status(
        ticket,
        TicketStatus.REOPENED,
        actor=actor,
        reopened_count=ticket.reopened_count + 1,
        resolved_at=None,
        resolver_kind="",
        queue=ticket.queue or Queue.objects.team(Queue.GENERAL),
    )
    timeline_note(ticket, actor, f"{display_name(actor)} reopened the ticket: {reason.strip()}")
    return ticket


@transaction.atomic
def ticket_move(*, ticket_id: int, queue_slug: str, actor: User, note: str = "") -> Ticket:
    """Move the ticket to another team's queue, unassigned. Every move counts as a routing correction."""
    ticket = ticket_locked(ticket_id)
    _require_open(ticket, "moved")
    try:
        queue = Queue.objects.team(queue_slug)
    except ValueError as error:
        raise TicketError(f"There is no queue {queue_slug!r}.") from error
    if ticket.queue_id == queue.pk:
        raise TicketError(f"The ticket is already in {queue.name}.")
    RoutingChange.objects.create(
        ticket=ticket, from_queue=ticket.queue, to_queue=queue, actor=actor, note=note.strip()[:500]
    )
    now = timezone.now()
    _close_spans(ticket, now)
    if ticket.status == TicketStatus.IN_PROGRESS:
        _set_status(ticket, TicketStatus.ESCALATED, actor=actor, queue=queue, assignee=None)
    else:
        Ticket.objects.filter(pk=ticket.pk).update(queue=queue, assignee=None, updated_at=now)
        ticket.refresh_from_db()
    return ticket


def ticket_view_record(*, ticket_id: int, user: User) -> None:
    """Remember when this staff member last opened the ticket ("new since you looked")."""
    now = timezone.now()
    if TicketView.objects.filter(user=user, ticket_id=ticket_id).update(seen_at=now):
        return
    try:
        with transaction.atomic():
            TicketView.objects.create(user=user, ticket_id=ticket_id, seen_at=now)
    except IntegrityError:  # a second tab created it first
        TicketView.objects.filter(user=user, ticket_id=ticket_id).update(seen_at=now)


def sla_breaches_escalate(*, now: datetime | None = None) -> int:
    """Record each newly missed target once: priority one step up, the queue's lead told.

    Ticket by ticket, each in its own transaction; one failure never stops the rest. Running it
    twice has the effect of running it once (one breach per ticket and target).
    """
    now = now or timezone.now()
    open_tickets = Ticket.objects.filter(status__in=QUEUE_STATUSES, queue__isnull=False)
    candidates = sla.breached(open_tickets.exclude(sla_breaches__kind=SlaKind.RESOLUTION), now)
    escalated = 0
    for ticket_id in candidates.values_list("pk", flat=True):
        try:
            escalated += _breach_record(ticket_id, now)
        except Exception:
            logger.exception("could not record the SLA breach of ticket %s", ticket_id)
    return escalated


@transaction.atomic
def _breach_record(ticket_id: int, now: datetime) -> int:
    ticket = ticket_locked(ticket_id)
    known = set(ticket.sla_breaches.values_list("kind", flat=True))
    kinds = [kind for kind in sla.breached_kinds(ticket, now) if kind not in known]
    if ticket.status not in QUEUE_STATUSES or not kinds:
        return 0
    before, after = ticket.priority, PRIORITY_UP[Priority(ticket.priority)]
    dues = {clock.kind: clock.due_at for clock in sla.clocks(ticket)}
    for kind in kinds:
        SlaBreach.objects.create(
            ticket=ticket, kind=kind, due_at=dues[kind], priority_before=before, priority_after=after
        )
    Ticket.objects.filter(pk=ticket.pk).update(priority=after)
    missed = " and ".join(SlaKind(kind).label.lower() for kind in kinds)
    raised = f"priority raised to {Priority(after).label}" if after != before else "priority stays Urgent"
    timeline_note(ticket, None, f"SLA missed ({missed} target): {raised}.")
    queue = ticket.queue
    assert queue is not None  # the candidates all have one
    for lead in _leads(queue):
        notification_send(
            recipient=lead,
            ticket=ticket,
            code="sla.breached",
            text=f"SLA missed on {ticket.reference} in {queue.name} ({missed}): {raised}",
            url=reverse("staff:ticket", kwargs={"ticket_id": ticket.pk}),
        )
    return 1


def _leads(queue: Queue) -> list[User]:
    if queue.lead_id and queue.lead and queue.lead.is_active:
        return [queue.lead]
    return list(User.objects.filter(groups__name=Role.SERVICE_DESK_LEAD.value, is_active=True).order_by("pk"))
