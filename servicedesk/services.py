"""Every write to tickets and comments goes through these functions, one transaction each."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.locks import row_lock, row_lock_or_none
from core.queue import enqueue_on_commit
from servicedesk.messages import handed_over
from servicedesk.models import (
    AuthorKind,
    Comment,
    EscalationReason,
    Queue,
    ResolverKind,
    Ticket,
    TicketStatus,
    Visibility,
)
from servicedesk.states import can_transition

logger = logging.getLogger(__name__)


TRIAGE_TASK = "agents.tasks.handle_ticket"  # the agent worker's task, by name: agents is above us


class TicketError(Exception):
    """An action the ticket's current state does not allow. The message is shown to the user."""


def _enqueue_triage(ticket_id: int) -> None:
    """To the agent worker, by name, after commit. With the broker down the ticket is still saved
    ("new"), and the periodic sweep hands it over once the broker is back."""
    enqueue_on_commit(TRIAGE_TASK, ticket_id)


def _transition(
    ticket: Ticket,
    to: str,
    *,
    actor: User | None,
    actor_kind: str,
    **fields: Any,
) -> None:
    """Move ``ticket`` to ``to`` with a conditional update, so two writers cannot both win."""
    if not can_transition(ticket.status, to):
        raise TicketError(
            f"A ticket that is {TicketStatus(ticket.status).label.lower()} cannot become "
            f"{TicketStatus(to).label.lower()}."
        )
    now = timezone.now()
    fields.update(_sla_pause_fields(ticket, to, now))
    changed = Ticket.objects.filter(pk=ticket.pk, status=ticket.status).update(
        status=to, status_changed_at=now, updated_at=now, **fields
    )
    if changed != 1:
        raise TicketError("The ticket was changed by someone else meanwhile; reload it and try again.")
    ticket.status_changes.create(from_status=ticket.status, to_status=to, actor=actor, actor_kind=actor_kind)
    ticket.refresh_from_db()


def ticket_transition(*, ticket: Ticket, to: str, actor: User | None, actor_kind: str, **fields: Any) -> None:
    """``_transition`` for writers above servicedesk (the workspace adds its own notes and notices);
    in the caller's transaction. ``TicketError``: not allowed, or another writer moved it first."""
    _transition(ticket, to, actor=actor, actor_kind=actor_kind, **fields)


def comment_add_note(
    *,
    ticket: Ticket,
    body: str,
    author_kind: str = AuthorKind.SYSTEM,
    author: User | None = None,
    internal: bool = True,
) -> Comment:
    """A note by the system or the agent (an execution's outcome, what shadow mode would have done),
    in the caller's transaction. No status change, no notification: the caller decides those."""
    return Comment.objects.create(
        ticket=ticket,
        author=author,
        author_kind=author_kind,
        visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
        body=body,
    )


def _sla_pause_fields(ticket: Ticket, to: str, now: datetime) -> dict[str, Any]:
    """Waiting on the requester stops the resolution clock; leaving that status adds the pause."""
    if to == TicketStatus.AWAITING_REQUESTER and ticket.sla_paused_at is None:
        return {"sla_paused_at": now}
    if to != TicketStatus.AWAITING_REQUESTER and ticket.sla_paused_at is not None:
        paused = max(0, round((now - ticket.sla_paused_at).total_seconds()))
        return {"sla_paused_at": None, "sla_paused_seconds": ticket.sla_paused_seconds + paused}
    return {}


@transaction.atomic
def ticket_submit(*, requester: User, subject: str, description: str) -> Ticket:
    ticket = Ticket.objects.create(
        requester=requester, subject=subject.strip(), description=description.strip()
    )
    ticket.status_changes.create(
        from_status="", to_status=TicketStatus.NEW, actor=requester, actor_kind=AuthorKind.REQUESTER
    )
    ticket.refresh_from_db()  # database defaults (created_at)
    # The text stays out of the audit trail: a secret typed into a ticket must never reach an export.
    audit_record(
        code="ticket.received",
        actor_kind="user",
        actor=requester,
        ticket_id=ticket.pk,
        data={"subject_chars": len(ticket.subject), "description_chars": len(ticket.description)},
    )
    _enqueue_triage(ticket.pk)
    return ticket


@transaction.atomic
def ticket_triage_start(*, ticket_id: int, max_attempts: int) -> Ticket | None:
    """Claim a ticket for the agent. Returns None when there is nothing to do.

    A re-delivered task finds the ticket past triage and does nothing; a ticket whose earlier
    triage died half-way (still "triaging") is claimed again, up to ``max_attempts`` times.
    """
    ticket = row_lock_or_none(Ticket, ticket_id, no_key=True)
    if ticket is None or ticket.status not in {TicketStatus.NEW, TicketStatus.TRIAGING}:
        return None
    if ticket.triage_attempts >= max_attempts:
        _escalate(
            ticket,
            EscalationReason.AGENT_FAILED,
            detail=f"no decision after {ticket.triage_attempts} attempts",
            actor_kind=AuthorKind.SYSTEM,
        )
        return None
    attempts = ticket.triage_attempts + 1
    if ticket.status == TicketStatus.NEW:
        _transition(
            ticket, TicketStatus.TRIAGING, actor=None, actor_kind=AuthorKind.AGENT, triage_attempts=attempts
        )
    else:
        Ticket.objects.filter(pk=ticket.pk).update(triage_attempts=attempts, status_changed_at=timezone.now())
        ticket.refresh_from_db()
    return ticket


def _escalate(
    ticket: Ticket,
    reason: str,
    *,
    detail: str,
    actor_kind: str,
    queue_slug: str = Queue.GENERAL,
    language: str = "",
) -> None:
    queue = Queue.objects.team(queue_slug)
    _transition(
        ticket,
        TicketStatus.ESCALATED,
        actor=None,
        actor_kind=actor_kind,
        queue=queue,
        escalation_reason=reason,
        escalation_detail=detail[:500],
    )
    # Every hand-over to a person is a step of the audit trail, with who made it and why.
    audit_record(
        code="ticket.escalated",
        actor_kind="agent" if actor_kind == AuthorKind.AGENT else "system",
        ticket_id=ticket.pk,
        data={"reason": str(reason), "detail": detail[:500], "queue": queue.slug},
    )
    Comment.objects.create(
        ticket=ticket,
        author_kind=AuthorKind.SYSTEM,
        visibility=Visibility.PUBLIC,
        body=handed_over(team=queue.name, reason_label=EscalationReason(reason).label, language=language),
    )


def _agent_reply(ticket: Ticket, body: str) -> Comment:
    """A public reply from the agent; the first one is the ticket's first response."""
    comment = Comment.objects.create(
        ticket=ticket, author_kind=AuthorKind.AGENT, visibility=Visibility.PUBLIC, body=body
    )
    Ticket.objects.filter(pk=ticket.pk, first_response_at__isnull=True).update(
        first_response_at=comment.created_at
    )
    return comment


@transaction.atomic
def ticket_resolve_by_agent(*, ticket_id: int, message: str) -> Ticket:
    """The agent carried out the request and read the result back."""
    ticket = row_lock(Ticket, ticket_id, no_key=True)
    _transition(
        ticket,
        TicketStatus.RESOLVED,
        actor=None,
        actor_kind=AuthorKind.AGENT,
        resolver_kind=ResolverKind.AGENT,
        resolved_at=timezone.now(),
    )
    _agent_reply(ticket, message)
    return ticket


@transaction.atomic
def ticket_resolve_after_approval(*, ticket_id: int, message: str, started_by: User) -> Ticket:
    """A staff member's action waited for an approval and has now been carried out: the ticket is
    resolved in their name (it counts as a staff resolution, not the agent's)."""
    ticket = row_lock(Ticket, ticket_id, no_key=True)
    _transition(
        ticket,
        TicketStatus.RESOLVED,
        actor=None,
        actor_kind=AuthorKind.SYSTEM,
        resolver_kind=ResolverKind.STAFF,
        resolved_at=timezone.now(),
        assignee=ticket.assignee or started_by,
    )
    Comment.objects.create(
        ticket=ticket, author_kind=AuthorKind.SYSTEM, visibility=Visibility.PUBLIC, body=message
    )
    return ticket


@transaction.atomic
def ticket_await_approval(*, ticket_id: int, message: str) -> Ticket:
    ticket = row_lock(Ticket, ticket_id, no_key=True)
    _transition(ticket, TicketStatus.AWAITING_APPROVAL, actor=None, actor_kind=AuthorKind.AGENT)
    _agent_reply(ticket, message)
    return ticket


@transaction.atomic
def ticket_ask_requester(*, ticket_id: int, question: str) -> Ticket:
    """One clarifying question; the requester's reply sends the ticket back to the agent."""
    ticket = row_lock(Ticket, ticket_id, no_key=True)
    _transition(
        ticket,
        TicketStatus.AWAITING_REQUESTER,
        actor=None,
        actor_kind=AuthorKind.AGENT,
        questions_asked=ticket.questions_asked + 1,
    )
    # The question's words stay on the ticket: the model wrote them and they may quote its text.
    audit_record(
        code="agent.asked",
        actor_kind="agent",
        ticket_id=ticket.pk,
        data={"question": ticket.questions_asked, "question_chars": len(question)},
    )
    _agent_reply(ticket, question)
    return ticket


@transaction.atomic
def ticket_escalate(
    *,
    ticket_id: int,
    reason: str,
    detail: str = "",
    queue_slug: str = Queue.GENERAL,
    actor_kind: str = AuthorKind.AGENT,
    language: str = "",
) -> Ticket:
    """``language``: the ticket's language when the agent could not read it (the acknowledgement)."""
    ticket = row_lock(Ticket, ticket_id, no_key=True)
    _escalate(ticket, reason, detail=detail, actor_kind=actor_kind, queue_slug=queue_slug, language=language)
    return ticket


@transaction.atomic
def comment_add_reply(*, ticket: Ticket, author: User, body: str) -> Comment:
    """A public reply from the requester. A reply to a question from the agent re-runs the agent."""
    ticket = row_lock(Ticket, ticket.pk, no_key=True)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketError("This ticket is closed. Please submit a new ticket instead.")
    comment = Comment.objects.create(
        ticket=ticket,
        author=author,
        author_kind=AuthorKind.REQUESTER,
        visibility=Visibility.PUBLIC,
        body=body.strip(),
    )
    if ticket.status == TicketStatus.AWAITING_REQUESTER and ticket.assignee_id is None:
        _transition(
            ticket, TicketStatus.TRIAGING, actor=author, actor_kind=AuthorKind.REQUESTER, triage_attempts=0
        )
        _enqueue_triage(ticket.pk)
    elif ticket.status == TicketStatus.AWAITING_REQUESTER:
        # A staff member asked: the answer goes back to them.
        _transition(ticket, TicketStatus.IN_PROGRESS, actor=author, actor_kind=AuthorKind.REQUESTER)
    else:
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
    return comment


@transaction.atomic
def ticket_confirm_resolution(*, ticket: Ticket, user: User) -> Ticket:
    ticket = row_lock(Ticket, ticket.pk, no_key=True)
    if ticket.status != TicketStatus.RESOLVED:
        raise TicketError("Only a resolved ticket can be confirmed.")
    _transition(
        ticket, TicketStatus.CLOSED, actor=user, actor_kind=AuthorKind.REQUESTER, closed_at=timezone.now()
    )
    return ticket


def reopen_deadline(ticket: Ticket) -> Any:
    if ticket.resolved_at is None:
        return None
    return ticket.resolved_at + timedelta(days=settings.REOPEN_WINDOW_DAYS)


@transaction.atomic
def ticket_reopen(*, ticket: Ticket, user: User, reason: str) -> Ticket:
    """The requester says the problem is not solved. Reopened tickets go to a human."""
    ticket = row_lock(Ticket, ticket.pk, no_key=True)
    if ticket.status != TicketStatus.RESOLVED:
        raise TicketError("Only a resolved ticket can be reopened.")
    deadline = reopen_deadline(ticket)
    if deadline is None or timezone.now() > deadline:
        raise TicketError(
            f"This ticket was resolved more than {settings.REOPEN_WINDOW_DAYS} days ago. "
            "Please submit a new ticket instead."
        )
    _transition(
        ticket,
        TicketStatus.REOPENED,
        actor=user,
        actor_kind=AuthorKind.REQUESTER,
        reopened_count=ticket.reopened_count + 1,
        escalation_reason=EscalationReason.REOPENED,
        queue=ticket.queue or Queue.objects.team(Queue.GENERAL),
        escalation_detail="",
        resolved_at=None,
    )
    Comment.objects.create(
        ticket=ticket,
        author=user,
        author_kind=AuthorKind.REQUESTER,
        visibility=Visibility.PUBLIC,
        body=f"Reopened: {reason.strip()}",
    )
    return ticket


def tickets_close_resolved(*, older_than_days: int) -> int:
    """Close tickets resolved longer ago than the reopen window; one failure never stops the batch."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    closed = 0
    for ticket_id in Ticket.objects.filter(status=TicketStatus.RESOLVED, resolved_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        try:
            with transaction.atomic():
                ticket = row_lock(Ticket, ticket_id, no_key=True)
                _transition(
                    ticket,
                    TicketStatus.CLOSED,
                    actor=None,
                    actor_kind=AuthorKind.SYSTEM,
                    closed_at=timezone.now(),
                )
            closed += 1
        except Exception:
            logger.exception("could not close resolved ticket %s", ticket_id)
    return closed
