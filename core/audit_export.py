"""Audit events for auditors, as JSON lines or CSV, streamed in id order.

Shared by ``manage.py audit_export`` and the admin's audit browser. The JSON lines hold every field
verbatim, so an auditor can recompute each hash (``core.audit.canonical_content``); the CSV
holds the same columns with ``data`` as canonical JSON text.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from core.audit import CODES
from core.models import AuditEvent

FORMATS = ("jsonl", "csv")
COLUMNS = (
    "id",
    "created_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "code",
    "text",
    "ticket_id",
    "data",
    "prev_hash",
    "hash",
)
CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}
_CHUNK = 2000
# A cell starting with one of these is a formula to a spreadsheet; CSV cells get a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def events_between(*, since: date, until: date) -> QuerySet[AuditEvent]:
    """Events from the start of ``since`` to the end of ``until`` (both included), local time zone."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(since, time.min, tzinfo=tz)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz)
    return AuditEvent.objects.filter(created_at__gte=start, created_at__lt=end).order_by("id")


def event_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "code": event.code,
        "text": CODES.get(event.code, ""),
        "ticket_id": event.ticket_id,
        # Keys sorted: the same text whichever database stored it (PostgreSQL's jsonb reorders them).
        "data": json.loads(json.dumps(event.data, sort_keys=True)),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _in_id_order(events: QuerySet[AuditEvent]) -> Iterable[AuditEvent]:
    return events.order_by("id").iterator(chunk_size=_CHUNK)


def jsonl_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    for event in _in_id_order(events):
        yield json.dumps(event_row(event), ensure_ascii=False) + "\n"


class _Echo:
    """A file-like object whose ``write`` hands back the line, for streaming ``csv.writer`` output."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for event in _in_id_order(events):
        row = event_row(event)
        row["data"] = json.dumps(row["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        yield writer.writerow([_csv_cell(row[column]) for column in COLUMNS])


def export_lines(events: QuerySet[AuditEvent], fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        return jsonl_lines(events)
    if fmt == "csv":
        return csv_lines(events)
    raise ValueError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
