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
    from agents.redact import SecretsFilter

    for handler in logger.handlers:
        handler.addFilter(SecretsFilter())
