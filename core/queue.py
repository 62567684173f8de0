"""The hand-off to workers: a task is sent by its name, so no service imports a task module.

The rows are the outbox: a ticket stays "new" and an execution "started" until a worker finishes
it, and the periodic sweeps send stuck ones again. Sending is therefore best effort: with the
broker down the row is kept and the sweep delivers it later. The publish gives up after about
10 s (``CELERY_TASK_PUBLISH_RETRY_POLICY`` and the broker's socket timeouts in settings).

``send_task`` ignores ``task_always_eager`` (celery issue 581): tests patch :func:`send_task`, the
one seam, and the end-to-end tests run real workers.
"""

from collections.abc import Sequence

from celery import current_app
from django.conf import settings
from django.db import transaction


def send_task(name: str, *, args: Sequence[int], queue: str) -> None:
    """Publish one message for the task ``name`` (the seam tests patch)."""
    current_app.send_task(name, args=tuple(args), queue=queue)


def enqueue(task_name: str, *ids: int) -> None:
    """Send now, on the queue the settings name at call time (``bench_drain`` switches it)."""
    send_task(task_name, args=ids, queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def enqueue_on_commit(task_name: str, *ids: int) -> None:
    """Send once the caller's transaction has committed; never for one that rolls back.

    ``robust=True``: a broker that is down does not undo the committed write; the sweep re-sends.
    """
    transaction.on_commit(lambda: enqueue(task_name, *ids), robust=True)
