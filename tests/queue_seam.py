"""Patch the sending of one Celery task, by name, at ``core.queue.send_task`` (the one seam every hand-off
to a worker goes through). The mock is called as ``apply_async`` was: ``(args=(ids...), queue=...)``.
Other tasks go on to whatever the seam was before, so patches nest."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

import core.queue


@contextmanager
def patch_task(name: str, **mock_kwargs: Any) -> Iterator[mock.Mock]:
    before = core.queue.send_task
    task = mock.Mock(**mock_kwargs)

    def send_task(task_name: str, *, args: Sequence[int], queue: str) -> None:
        if task_name == name:
            task(args=tuple(args), queue=queue)
        else:
            before(task_name, args=args, queue=queue)

    with mock.patch("core.queue.send_task", send_task):
        yield task
