from celery import Task, shared_task

from governance.approvals import approvals_expire
from governance.directory.base import TransientDirectoryError
from governance.executor import execution_run

EXECUTION_RETRIES = 4


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=60,
    time_limit=90,
    max_retries=EXECUTION_RETRIES,
)
def run_execution(self: Task, execution_id: int) -> None:
    """Directory hiccups are retried with exponential backoff (2, 4, 8, 16 s); then a human gets it."""
    try:
        execution_run(execution_id=execution_id, last_attempt=self.request.retries >= EXECUTION_RETRIES)
    except TransientDirectoryError as error:
        raise self.retry(exc=error, countdown=2 ** (self.request.retries + 1)) from error


@shared_task
def expire_approvals() -> int:
    return approvals_expire()
