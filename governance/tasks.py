from celery import Task, shared_task

from governance.directory.base import TransientDirectoryError
from governance.services import approvals_expire, execution_run

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


@shared_task
def rebuild_rollups() -> dict:
    """Keep the dashboards' daily rollups current (the last ROLLUP_REBUILD_DAYS days)."""
    from governance.rollups import rollups_rebuild

    return rollups_rebuild()


@shared_task
def monitor_anomalies() -> int:
    """Anomaly rules and hard caps; an anomaly pauses the action or the agent (the kill switch)."""
    from governance.monitoring import monitor_anomalies as run

    return len(run())


@shared_task
def monitor_tolerance() -> int:
    from governance.monitoring import monitor_tolerance as run

    return len(run())


@shared_task
def monitor_drift() -> int:
    from governance.drift import drift_check

    return sum(check.drifted for check in drift_check())


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=1800, time_limit=1900)
def run_backtest(run_id: int) -> str:
    """Replay a backtest's tickets (thousands may take minutes); the run records progress and errors."""
    from governance.backtest import backtest_execute

    run = backtest_execute(run_id=run_id)
    return run.status if run is not None else "not claimed"
