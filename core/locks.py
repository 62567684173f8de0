"""Every lock the code takes, in one place, and the order they are taken in.

Order: row locks (``row_lock``) first, the audit chain's lock (``chain_lock``) last. A
transaction that writes an audit event and then waits for a ticket row deadlocks with one that
holds the row and waits to write an event.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def row_lock(model: type[M], pk: Any, *, no_key: bool = False) -> M:
    """The row ``pk`` of ``model`` under ``SELECT ... FOR [NO KEY] UPDATE``; ``DoesNotExist`` if gone.

    ``no_key``: rows pointing at it (comments, status changes) may still be inserted meanwhile.
    """
    return model._default_manager.select_for_update(no_key=no_key).get(pk=pk)


def row_lock_or_none(model: type[M], pk: Any, *, no_key: bool = False) -> M | None:
    """Like ``row_lock``, None when the row is gone (a page about a ticket deleted meanwhile)."""
    return model._default_manager.select_for_update(no_key=no_key).filter(pk=pk).first()


def chain_lock(key: int) -> None:
    """A transaction-scoped PostgreSQL advisory lock. SQLite needs none: its transactions begin
    IMMEDIATE (config/database.py), so writers are already serialised."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


@contextmanager
def session_lease(space: int, item_id: int) -> Iterator[bool]:
    """Whether this process holds the two-int advisory lock (``space``, ``item_id``) now: a session
    lock, not a row lock, so the holder may commit as it goes. It is released at the end, or by
    PostgreSQL when a killed worker's connection drops. SQLite (one worker) always gets it."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = [space, item_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        leased = bool(cursor.fetchone()[0])
    try:
        yield leased
    finally:
        if leased:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
