from celery import shared_task
from django.conf import settings

from servicedesk.services import tickets_close_resolved


@shared_task
def close_resolved_tickets() -> int:
    return tickets_close_resolved(older_than_days=settings.REOPEN_WINDOW_DAYS)


@shared_task
def escalate_sla_breaches() -> int:
    """Every few minutes: breached tickets go up one priority and the queue's lead is told (once)."""
    from servicedesk.staff_services import sla_breaches_escalate  # imports governance; keep it lazy

    return sla_breaches_escalate()
