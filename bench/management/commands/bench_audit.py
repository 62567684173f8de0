"""Benchmark the audit trail: chain verification rate, and the append rate of one writer.

    manage.py bench_audit --events 1000000 --append 2000 [--json OUT]   # use a private database

``--events`` chained events are added after the current head (built with the production hash, in
batches), then ``audit_verify()`` (what ``manage.py audit_verify`` runs) walks the whole chain.
``--append`` events are then written one by one through ``audit_record``, each in its own
transaction, as the services write them. Events are append-only: they stay in the database.
"""

import hashlib
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from core.audit import GENESIS, audit_record, audit_verify, canonical_content
from core.models import AuditEvent

BATCH = 5000

# A realistic spread of what the services write (codes and data shapes), cycled through.
SAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    ("ticket.received", "user", {"subject_chars": 42, "description_chars": 311}),
    ("agent.proposed", "agent", {"action": "reset_password", "params": {}, "confidence": 0.93}),
    (
        "policy.decided",
        "agent",
        {"decision": {"outcome": "execute", "rule_ids": [], "reason": "", "queue": "accounts-access"}},
    ),
    ("execution.started", "system", {"action": "reset_password", "connector": "builtin"}),
    ("execution.succeeded", "system", {"action": "reset_password", "after": {"reset_link_sent": True}}),
    ("approval.requested", "agent", {"action": "grant_group_access", "params": {"group": "finance-reports"}}),
]


def _seed(count: int) -> float:
    """Append ``count`` chained events after the current head; returns the seconds it took."""
    started = time.perf_counter()
    prev = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS
    at = timezone.now() - timedelta(seconds=count)
    for start in range(0, count, BATCH):
        rows = []
        for n in range(start, min(start + BATCH, count)):
            code, kind, data = SAMPLES[n % len(SAMPLES)]
            event = AuditEvent(
                created_at=at + timedelta(milliseconds=n),
                actor_kind=kind,
                actor_id=None,
                actor_label="bench",
                code=code,
                ticket_id=n // len(SAMPLES) + 1,
                data=json.loads(json.dumps(data)),
                prev_hash=prev,
            )
            event.hash = prev = hashlib.sha256(canonical_content(event)).hexdigest()
            rows.append(event)
        with transaction.atomic():
            AuditEvent.objects.bulk_create(rows)
    return time.perf_counter() - started


def _append(count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        audit_record(code="ticket.received", actor_kind="system", actor_label="bench", ticket_id=n, data={})
    return time.perf_counter() - started


def run(*, events: int, append: int) -> dict[str, Any]:
    seeded = _seed(events)
    if connection.vendor == "postgresql":  # fresh rows: planner statistics for the verify scan
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE governance_auditevent")
    started = time.perf_counter()
    result = audit_verify()
    verify_seconds = time.perf_counter() - started
    if not result.ok:
        raise CommandError(f"the chain does not verify at event {result.bad_event_id}: {result.problem}")
    append_seconds = _append(append)
    return {
        "database": connection.vendor,
        "events_seeded": events,
        "seed_seconds": round(seeded, 3),
        "events_verified": result.checked,
        "verify_seconds": round(verify_seconds, 3),
        "verify_events_per_second": round(result.checked / verify_seconds, 1) if verify_seconds else None,
        "events_appended": append,
        "append_seconds": round(append_seconds, 3),
        "append_events_per_second": round(append / append_seconds, 1) if append_seconds else None,
    }


class Command(BaseCommand):
    help = "Time audit chain verification (events/s) and single-writer appends. Use a private database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=100_000, help="chained events to add, then verify")
        parser.add_argument("--append", type=int, default=1000, help="events written one by one")
        parser.add_argument("--json", dest="json_out", help="write the figures here")

    def handle(self, *args, events: int, append: int, json_out: str | None, **options):  # type: ignore[no-untyped-def]
        figures = run(events=events, append=append)
        self.stdout.write(
            f"audit chain: {figures['events_verified']} events verified in {figures['verify_seconds']} s "
            f"= {figures['verify_events_per_second']} events/s ({figures['database']}); "
            f"seeding {figures['events_seeded']} took {figures['seed_seconds']} s"
        )
        self.stdout.write(
            f"audit append (audit_record, one transaction each): {append} events in "
            f"{figures['append_seconds']} s = {figures['append_events_per_second']} events/s"
        )
        if json_out:
            Path(json_out).write_text(json.dumps(figures, indent=2))
