"""The agent's entry point for one ticket. It decides nothing about the directory itself."""

import logging

from django.conf import settings

from servicedesk.models import AuthorKind, EscalationReason, Queue, Ticket
from servicedesk.services import ticket_escalate, ticket_triage_start

logger = logging.getLogger(__name__)

MAX_TRIAGE_ATTEMPTS = 3


def ticket_triage(*, ticket_id: int) -> None:
    ticket = ticket_triage_start(ticket_id=ticket_id, max_attempts=MAX_TRIAGE_ATTEMPTS)
    if ticket is None:
        logger.info("ticket %s: nothing to triage", ticket_id)
        return
    try:
        _triage(ticket.pk)
    except Exception as error:
        # Never leave a ticket half-handled: a human gets it with the reason. If even that fails
        # (database gone), the exception reaches Celery and the sweep hands the ticket over again.
        logger.exception("ticket %s: triage failed", ticket_id)
        ticket_escalate(
            ticket_id=ticket.pk,
            reason=EscalationReason.AGENT_FAILED,
            detail=f"internal error ({type(error).__name__})",
            actor_kind=AuthorKind.SYSTEM,
        )


def _triage(ticket_id: int) -> None:
    ticket = Ticket.objects.get(pk=ticket_id)
    if not settings.AGENT_ENABLED:
        ticket_escalate(
            ticket_id=ticket.pk,
            reason=EscalationReason.AGENT_DISABLED,
            queue_slug=Queue.GENERAL,
            actor_kind=AuthorKind.SYSTEM,
        )
        logger.info("ticket %s: agent disabled, escalated to %s", ticket_id, Queue.GENERAL)
        return
    # The agent itself (router, planner, governance decision) lands with its own issue; until then an
    # enabled agent has nothing that could act, so the ticket goes to a human rather than waiting.
    ticket_escalate(
        ticket_id=ticket.pk,
        reason=EscalationReason.AGENT_DISABLED,
        detail="no agent is installed in this build",
        queue_slug=Queue.GENERAL,
        actor_kind=AuthorKind.SYSTEM,
    )
