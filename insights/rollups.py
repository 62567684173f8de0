"""Daily rollups: tickets turned into ``DailyRollup`` rows, one per (day, queue, action, resolver).

A day is rebuilt whole (its rows deleted and recreated in one transaction), so running the rebuild
twice has the effect of running it once. The periodic task rebuilds the last ``ROLLUP_REBUILD_DAYS``
days, which covers late resolutions and the 7-day reopen window of recent tickets. The per-ticket
rules are written out in ``insights.metrics.TICKET_RULES``.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.models import ApprovalRequest, ApprovalStatus, Execution
from insights.models import DailyRollup
from servicedesk.models import AuthorKind, Comment, StatusChange, Ticket, TicketStatus

SAMPLE_CAP = 500
STAFF_STRETCH_CAP = timedelta(hours=8)
HANDLING_FIELDS = (("handling_seconds", 1), ("handling_minutes", 60), ("time_spent_minutes", 60))
CORRECTION_MODELS = ("StaffCorrection", "AgentCorrection", "Correction", "TicketCorrection")
WRONG_FLAGS = ("agent_wrong", "wrong", "is_wrong", "marked_wrong")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


@dataclass
class _Related:
    changes: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    executions: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    approvals: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    staff_comments: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    wrong: set[int] = field(default_factory=set)


def _handling_field() -> tuple[str, int] | None:
    """Servicedesk may record handling time on the ticket; use it when it does."""
    names = {f.name for f in Ticket._meta.get_fields()}
    return next(((name, factor) for name, factor in HANDLING_FIELDS if name in names), None)


def marked_wrong(ticket_ids: list[int]) -> set[int]:
    """Tickets staff marked as wrongly resolved, if servicedesk has such a model (read defensively)."""
    for name in CORRECTION_MODELS:
        try:
            model = apps.get_model("servicedesk", name)
        except LookupError:
            continue
        names = {f.name for f in model._meta.get_fields()}
        if "ticket" not in names:
            continue
        rows = model._default_manager.filter(ticket_id__in=ticket_ids)
        flag = next((f for f in WRONG_FLAGS if f in names), None)
        if flag:
            rows = rows.filter(**{flag: True})
        return set(rows.values_list("ticket_id", flat=True))
    return set()


def _related(ids: list[int]) -> _Related:
    related = _Related()
    changes = StatusChange.objects.filter(ticket_id__in=ids).order_by("created_at", "id")
    for change in changes.values("ticket_id", "to_status", "actor_kind", "created_at"):
        related.changes[change["ticket_id"]].append(dict(change))
    for ticket_id, action in (
        Execution.objects.filter(ticket_id__in=ids).order_by("id").values_list("ticket_id", "action")
    ):
        related.executions[ticket_id].append(action)
    for approval in (
        ApprovalRequest.objects.filter(ticket_id__in=ids)
        .order_by("id")
        .values("ticket_id", "action", "status", "created_at")
    ):
        related.approvals[approval["ticket_id"]].append(dict(approval))
    comments = Comment.objects.filter(ticket_id__in=ids, author_kind=AuthorKind.STAFF)
    for ticket_id, created_at in comments.values_list("ticket_id", "created_at"):
        related.staff_comments[ticket_id].append(created_at)
    related.wrong = marked_wrong(ids)
    return related


def _first_resolution(ticket: dict[str, Any], changes: list[dict[str, Any]]) -> tuple[datetime, str] | None:
    for change in changes:
        if change["to_status"] == TicketStatus.RESOLVED:
            kind = change["actor_kind"]
            resolver = kind if kind in ("agent", "staff") else (ticket["resolver_kind"] or "staff")
            return change["created_at"], resolver
    if ticket["resolved_at"]:
        return ticket["resolved_at"], ticket["resolver_kind"] or "staff"
    return None


def _staff_seconds(ticket: dict[str, Any], changes: list[dict[str, Any]], now: datetime) -> int:
    handling = _handling_field()
    if handling:
        name, factor = handling
        return int((ticket.get(name) or 0) * factor)
    total = timedelta()
    started: datetime | None = None
    for change in changes:
        if started is not None:
            total += min(change["created_at"] - started, STAFF_STRETCH_CAP)
            started = None
        if change["to_status"] == TicketStatus.IN_PROGRESS and change["actor_kind"] == AuthorKind.STAFF:
            started = change["created_at"]
    if started is not None:
        total += min(now - started, STAFF_STRETCH_CAP)
    return int(total.total_seconds())


def classify(ticket: dict[str, Any], related: _Related, now: datetime) -> dict[str, Any]:
    """One ticket's contribution to its rollup cell (the rules in ``metrics.TICKET_RULES``)."""
    tid = ticket["id"]
    changes = related.changes.get(tid, [])
    approvals = related.approvals.get(tid, [])
    executions = related.executions.get(tid, [])
    action = executions[0] if executions else (approvals[0]["action"] if approvals else "")
    first = _first_resolution(ticket, changes)
    resolved_at, resolver = first if first else (None, "")
    reopened = False
    if resolved_at is not None:
        window_end = resolved_at + timedelta(days=settings.REOPEN_WINDOW_DAYS)
        reopened = any(
            c["to_status"] == TicketStatus.REOPENED and resolved_at <= c["created_at"] <= window_end
            for c in changes
        ) or (not changes and ticket["reopened_count"] > 0)
    error = resolved_at is not None and (reopened or tid in related.wrong)
    human_step = (
        bool(approvals)
        or any(c["actor_kind"] == AuthorKind.STAFF for c in changes)
        or bool(related.staff_comments.get(tid))
    )
    escalated = bool(ticket["escalation_reason"]) or any(
        c["to_status"] == TicketStatus.ESCALATED for c in changes
    )
    cycle = int((resolved_at - ticket["created_at"]).total_seconds()) if resolved_at else None
    return {
        "key": (ticket["queue__slug"] or "", action, resolver),
        "autonomous": resolver == "agent" and not human_step,
        "escalated": escalated,
        "agent_resolved": resolver == "agent",
        "agent_error": resolver == "agent" and error,
        "error": error,
        "approvals_requested": len(approvals),
        "approvals_decided": sum(a["status"] in _DECIDED for a in approvals),
        "approvals_granted": sum(a["status"] == ApprovalStatus.APPROVED for a in approvals),
        "cycle": max(cycle, 0) if cycle is not None else None,
        "staff_seconds": _staff_seconds(ticket, changes, now),
    }


_DECIDED = {ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED}


def _sample(values: list[int]) -> list[int]:
    ordered = sorted(values)
    if len(ordered) <= SAMPLE_CAP:
        return ordered
    step = len(ordered) / SAMPLE_CAP  # evenly spaced order statistics keep the percentiles
    return [ordered[int(i * step)] for i in range(SAMPLE_CAP)]


def _cells(day: date, classified: Iterable[dict[str, Any]]) -> list[DailyRollup]:
    cells: dict[tuple[str, str, str], DailyRollup] = {}
    cycles: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for item in classified:
        row = cells.setdefault(
            item["key"],
            DailyRollup(day=day, queue=item["key"][0], action=item["key"][1], resolver=item["key"][2]),
        )
        row.tickets += 1
        row.autonomous += item["autonomous"]
        row.escalated += item["escalated"]
        row.agent_resolved += item["agent_resolved"]
        row.agent_errors += item["agent_error"]
        row.errors += item["error"]
        row.approvals_requested += item["approvals_requested"]
        row.approvals_decided += item["approvals_decided"]
        row.approvals_granted += item["approvals_granted"]
        row.staff_seconds += item["staff_seconds"]
        if item["cycle"] is not None:
            row.resolved += 1
            row.cycle_seconds_sum += item["cycle"]
            cycles[item["key"]].append(item["cycle"])
    for key, row in cells.items():
        row.cycle_sample = _sample(cycles[key])
    return list(cells.values())


def _ticket_fields() -> list[str]:
    names = ["id", "created_at", "queue__slug", "resolver_kind", "resolved_at", "reopened_count"]
    names.append("escalation_reason")
    handling = _handling_field()
    return [*names, handling[0]] if handling else names


def rollup_day_build(*, day: date) -> int:
    """Rebuild one day's rows from its tickets; returns the number of rows written."""
    start, end = day_bounds(day)
    tickets = list(Ticket.objects.filter(created_at__gte=start, created_at__lt=end).values(*_ticket_fields()))
    related = _related([t["id"] for t in tickets])
    now = timezone.now()
    rows = _cells(day, (classify(t, related, now) for t in tickets))
    with transaction.atomic():
        DailyRollup.objects.filter(day=day).delete()
        DailyRollup.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def rollups_rebuild(*, days: int | None = None, until: date | None = None) -> dict[str, Any]:
    """Rebuild the last ``days`` days (today included). One bad day never stops the others."""
    days = days or settings.ROLLUP_REBUILD_DAYS
    until = until or timezone.localdate()
    written, failed = 0, []
    for offset in range(days - 1, -1, -1):
        day = until - timedelta(days=offset)
        try:
            written += rollup_day_build(day=day)
        except Exception as error:  # recorded per day; the batch goes on
            failed.append({"day": day.isoformat(), "error": f"{type(error).__name__}: {error}"})
    return {"days": days, "rows": written, "failed": failed}


def rollups_rebuild_all() -> dict[str, Any]:
    """Every day from the first ticket to today (the seed command and a fresh install)."""
    first = Ticket.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return {"days": 0, "rows": 0, "failed": []}
    first_day = timezone.localtime(first).date()
    return rollups_rebuild(days=(timezone.localdate() - first_day).days + 1)
