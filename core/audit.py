"""The append-only, hash-chained audit trail.

Each event stores the previous event's hash and the SHA-256 of its own canonical content, so an
edited, deleted or reordered event breaks the chain exactly where it happened. Writers are
serialised (a PostgreSQL advisory lock; SQLite's write lock), so concurrent writers keep one chain.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.locks import chain_lock
from core.models import AuditEvent

GENESIS = "0" * 64
_CHAIN_LOCK_KEY = 0x5EC_AD17  # any constant; identifies the audit chain's advisory lock

# Every code the product writes, with the sentence people read. Stored data is the code, never the text.
CODES: dict[str, str] = {
    "ticket.received": "Ticket received",
    "agent.proposed": "The agent proposed an action",
    "agent.asked": "The agent asked the requester a question",
    "ticket.escalated": "Ticket handed to a person",
    "policy.decided": "Governance decided",
    "approval.requested": "Approval requested",
    "approval.granted": "Approval granted",
    "approval.rejected": "Approval rejected",
    "approval.expired": "Approval expired",
    "approval.voided": "Approval voided (the request changed)",
    "execution.started": "Execution started",
    "execution.succeeded": "Execution succeeded",
    "execution.failed": "Execution failed",
    "execution.refused": "Execution refused at the last check",
    "password.reset_completed": "Password changed through a one-time reset link",
    "agent.paused": "Agent paused",
    "agent.resumed": "Agent resumed",
    "agent.mode_changed": "Agent mode changed",
    "action.paused": "Action paused",
    "action.resumed": "Action resumed",
    "catalog.changed": "Catalog changed",
    "anomaly.detected": "Anomaly detected",
    "alert.acknowledged": "Monitoring alert acknowledged",
    "baseline.recorded": "Baseline recorded",
    "review.planned": "Review thresholds set",
    "backtest.run": "Backtest started (past tickets replayed, nothing executed)",
}


def canonical_content(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers: everything but its own id and hash."""
    content = {
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "code": event.code,
        "ticket_id": event.ticket_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def audit_record(
    *,
    code: str,
    actor_kind: str,
    actor: User | None = None,
    actor_label: str = "",
    ticket_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event, in the caller's transaction: it commits or rolls back with the change."""
    if code not in CODES:
        raise ValueError(f"unknown audit code {code!r}")
    with transaction.atomic():
        chain_lock(_CHAIN_LOCK_KEY)
        prev_hash = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS
        event = AuditEvent(
            created_at=timezone.now(),
            actor_kind=actor_kind,
            actor_id=actor.pk if actor else None,
            actor_label=actor_label or (actor.get_username() if actor else ""),
            code=code,
            ticket_id=ticket_id,
            # A JSON round trip now, so the hash covers exactly what the database will give back.
            data=json.loads(json.dumps(data or {}, default=str)),
            prev_hash=prev_hash,
        )
        event.hash = hashlib.sha256(canonical_content(event)).hexdigest()
        event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head: str
    bad_event_id: int | None = None
    problem: str = ""


def verify_chain(events: Iterable[AuditEvent]) -> VerifyResult:
    """Walk events in id order; name the first one whose link or content does not match."""
    expected_prev = GENESIS
    checked = 0
    for event in events:
        if event.prev_hash != expected_prev:
            return VerifyResult(
                False,
                checked,
                expected_prev,
                event.pk,
                "previous-hash link broken (an event before it was deleted, inserted or moved)",
            )
        if hashlib.sha256(canonical_content(event)).hexdigest() != event.hash:
            return VerifyResult(
                False, checked, expected_prev, event.pk, "content does not match its hash (edited)"
            )
        expected_prev = event.hash
        checked += 1
    return VerifyResult(True, checked, expected_prev)


def audit_verify() -> VerifyResult:
    return verify_chain(AuditEvent.objects.order_by("id").iterator(chunk_size=2000))
