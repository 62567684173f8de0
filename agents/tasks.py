"""Celery tasks take ids, load what they need and call one service; running one twice acts once."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from agents.services import ticket_triage
from servicedesk.models import Ticket, TicketStatus

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=3,
)
def handle_ticket(ticket_id: int) -> None:
    ticket_triage(ticket_id=ticket_id)


def enqueue_ticket(ticket_id: int) -> None:
    """Send one ticket to the agent worker, on the queue named by the settings at call time."""
    handle_ticket.apply_async(args=(ticket_id,), queue=settings.CELERY_TASK_DEFAULT_QUEUE)


@shared_task
def sweep_stuck_tickets() -> int:
    """Hand tickets that never reached the worker (broker down at submit, worker killed) to it again."""
    cutoff = timezone.now() - timedelta(seconds=settings.TICKET_STUCK_AFTER_SECONDS)
    stuck = Ticket.objects.filter(
        status__in=[TicketStatus.NEW, TicketStatus.TRIAGING], status_changed_at__lt=cutoff
    ).values_list("pk", flat=True)
    sent = 0
    for ticket_id in stuck:
        try:
            enqueue_ticket(ticket_id)
            sent += 1
        except Exception:
            logger.exception("could not re-enqueue stuck ticket %s", ticket_id)
    return sent
