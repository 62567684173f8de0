import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("servicedesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def redact_worker_logs(logger: Any, **kwargs: Any) -> None:
    """A worker replaces the handlers of settings.LOGGING with its own: they redact secrets too."""
    from core.redact import SecretsFilter

    for handler in logger.handlers:
        handler.addFilter(SecretsFilter())


@signals.beat_init.connect
def rebuild_rollups_at_start(**kwargs: Any) -> None:
    """Dashboards are current from the scheduler's start, not only after its first interval."""
    app.send_task("insights.tasks.rebuild_rollups")  # by name: config imports no app
