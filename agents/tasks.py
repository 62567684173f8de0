"""Celery tasks take ids, load what they need and call one service; running one twice acts once."""

import logging
import os
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_init, worker_process_init
from django.conf import settings
from django.utils import timezone

from agents.services import ticket_triage
from config.cpu import pool_processes_set
from core.queue import enqueue
from governance.executor import executions_resend
from servicedesk.models import Ticket, TicketStatus
from servicedesk.services import TRIAGE_TASK
from understanding.llm import ModelUnavailable

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=3,
)
def handle_ticket(self: Task, ticket_id: int) -> None:
    """A model provider that is down is retried with backoff (10, 20, 40 s...); on the last attempt
    the ticket goes to a person with the reason. A finished decision is never re-run (see
    ``ticket_triage``), so a re-delivered task is harmless."""
    retries = min(settings.AGENT_TASK_RETRIES, self.max_retries or 0)
    try:
        ticket_triage(ticket_id=ticket_id, last_attempt=self.request.retries >= retries)
    except ModelUnavailable as error:
        raise self.retry(exc=error, countdown=10 * 2**self.request.retries) from error


@worker_init.connect
def preload_embedding_libraries(**kwargs: object) -> None:
    """Import torch and sentence-transformers once, in the worker's main process, before it forks
    its pool: every pool process, and each replacement of one that crashed, starts seconds sooner
    (and shares those pages). Import only: a model run here would hang the forked processes
    (OpenMP is not fork-safe), so each pool process still loads and runs its own.

    It also records how many pool processes share the cores, for their thread counts."""
    concurrency = getattr(kwargs.get("sender"), "concurrency", None)
    if isinstance(concurrency, int):
        pool_processes_set(concurrency)
    if not settings.AGENT_ENABLED:
        return
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        logger.exception("could not import sentence-transformers at worker start")


@worker_process_init.connect
def warm_up_router(**kwargs: object) -> None:
    """Load the embedding model and build the router when a worker process starts (~5-10 s), so
    the first ticket does not pay for it. A failure here only means the first ticket builds it."""
    if not settings.AGENT_ENABLED:
        return
    from agents.router import get_router

    try:
        get_router()
    except Exception:
        logger.exception("could not build the router at worker start")
        return
    logger.info("pool process %d is ready", os.getpid())


def queue_length(queue: str) -> int | None:
    """Messages waiting on ``queue`` (not those a worker holds), or None when the broker cannot say."""
    from config.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            channel: Any = connection.default_channel  # a kombu Channel (the stubs name a protocol)
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:  # no such queue yet (Redis drops an empty one), or the broker is down
        return None


def enqueue_ticket(ticket_id: int) -> None:
    """Send one ticket to the agent worker now, on the queue named by the settings at call time."""
    enqueue(TRIAGE_TASK, ticket_id)


@shared_task
def sweep_stuck_tickets() -> int:
    """Hand tickets that never reached the worker (broker down at submit, worker killed) to it again,
    and executions whose task was lost: their ticket waits in triage (or for approval) until one
    runs. Re-sending is harmless: a task delivered twice acts once."""
    cutoff = timezone.now() - timedelta(seconds=settings.TICKET_STUCK_AFTER_SECONDS)
    old = Ticket.objects.filter(status_changed_at__lt=cutoff)
    # A ticket in triage was taken by a worker that died or hung: its message is gone, send it again.
    stuck = list(old.filter(status=TicketStatus.TRIAGING).values_list("pk", flat=True))
    # A new one was never taken: lost at submit, or still waiting behind a backlog (a worker that was
    # down, a burst). While the queue holds at least as many messages as there are such tickets, they
    # are taken to be in it: re-sending would only add duplicates behind them. Once the backlog has
    # drained below their count, the lost ones are sent again.
    waiting = list(old.filter(status=TicketStatus.NEW).values_list("pk", flat=True))
    backlog = queue_length(settings.CELERY_TASK_DEFAULT_QUEUE)
    if waiting and backlog is not None and backlog >= len(waiting):
        logger.info("%d new tickets wait behind a backlog of %d messages; not re-sent", len(waiting), backlog)
    else:
        stuck += waiting
    sent = 0
    for ticket_id in stuck:
        try:
            enqueue_ticket(ticket_id)
            sent += 1
        except Exception:
            logger.exception("could not re-enqueue stuck ticket %s", ticket_id)
    return sent + executions_resend(started_before=cutoff)
