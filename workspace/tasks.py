from celery import shared_task

from workspace.services import sla_breaches_escalate


@shared_task
def escalate_sla_breaches() -> int:
    """Every few minutes: breached tickets go up one priority and the queue's lead is told (once)."""
    return sla_breaches_escalate()
