"""The managers' periodic work. Task names changed with the move from governance (``insights.tasks.*``):
drain the queue before upgrading (README)."""

from celery import shared_task

from insights.backtest import backtest_execute
from insights.drift import drift_check
from insights.monitoring import monitor_anomalies as anomalies_check
from insights.monitoring import monitor_tolerance as tolerance_check
from insights.rollups import rollups_rebuild


@shared_task
def rebuild_rollups() -> dict:
    """Keep the dashboards' daily rollups current (the last ROLLUP_REBUILD_DAYS days)."""
    return rollups_rebuild()


@shared_task
def monitor_anomalies() -> int:
    """Anomaly rules and hard caps; an anomaly pauses the action or the agent (the kill switch)."""
    return len(anomalies_check())


@shared_task
def monitor_tolerance() -> int:
    return len(tolerance_check())


@shared_task
def monitor_drift() -> int:
    return sum(check.drifted for check in drift_check())


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=1800, time_limit=1900)
def run_backtest(run_id: int) -> str:
    """Replay a backtest's tickets (thousands may take minutes); the run records progress and errors."""
    run = backtest_execute(run_id=run_id)
    return run.status if run is not None else "not claimed"
