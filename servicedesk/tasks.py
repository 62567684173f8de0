from celery import shared_task
from django.conf import settings

from servicedesk.services import tickets_close_resolved


@shared_task
def close_resolved_tickets() -> int:
    return tickets_close_resolved(older_than_days=settings.REOPEN_WINDOW_DAYS)
