"""The workspace's own figures (/staff/metrics/): handling time, first response, corrections."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import (
    Count,
    F,
    Q,
    Sum,
)
from django.utils import timezone

from servicedesk.models import (
    AgentCorrection,
    ResolverKind,
    RoutingChange,
    SlaBreach,
    StatusChange,
    Ticket,
    TicketStatus,
    WorkKind,
    WorkLog,
)
from servicedesk.states import QUEUE_STATUSES
from workspace import sla


@dataclass
class StaffRow:
    user: User
    resolved: int = 0
    logged_hours: float = 0.0
    handling_hours: float = 0.0


@dataclass
class Metrics:
    since: datetime
    reviewed: int
    wrong: int
    wrong_action: int
    wrong_queue: int
    reached_queue: int
    moved_tickets: int
    moves: int
    resolved_by_agent: int
    resolved_by_staff: int
    logged_hours: float
    handling_hours: float
    staff_hours: float  # what the managers' metrics count: Ticket.handling_seconds
    breaches: dict[str, int]
    breached_open: int
    staff: list[StaffRow] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        return self.wrong / self.reviewed if self.reviewed else None

    @property
    def resolved(self) -> int:
        return self.resolved_by_agent + self.resolved_by_staff

    @property
    def routing_correction_rate(self) -> float | None:
        return self.moved_tickets / self.reached_queue if self.reached_queue else None


def workspace_metrics(*, days: int = 30) -> Metrics:
    """Verdicts on the agent (error rate), routing corrections, staff hours and SLA, for ``days``."""
    now = timezone.now()
    since = now - timedelta(days=days)
    verdicts = AgentCorrection.objects.filter(updated_at__gte=since).aggregate(
        n_reviewed=Count("pk"),
        n_wrong=Count("pk", filter=Q(wrong=True)),
        n_wrong_action=Count("pk", filter=Q(wrong=True) & ~Q(correct_action=F("agent_action"))),
        n_wrong_queue=Count("pk", filter=Q(wrong=True, correct_queue__isnull=False)),
    )
    moves = RoutingChange.objects.filter(created_at__gte=since).aggregate(
        moves=Count("pk"), tickets=Count("ticket", distinct=True)
    )
    resolved = Ticket.objects.filter(resolved_at__gte=since).aggregate(
        agent=Count("pk", filter=Q(resolver_kind=ResolverKind.AGENT)),
        staff=Count("pk", filter=Q(resolver_kind=ResolverKind.STAFF)),
    )
    staff = _staff_rows(since, now)
    breaches = dict(
        SlaBreach.objects.filter(detected_at__gte=since)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return Metrics(
        since=since,
        reviewed=verdicts["n_reviewed"],
        wrong=verdicts["n_wrong"],
        wrong_action=verdicts["n_wrong_action"],
        wrong_queue=verdicts["n_wrong_queue"],
        reached_queue=Ticket.objects.filter(created_at__gte=since, queue__isnull=False).count(),
        moved_tickets=moves["tickets"],
        moves=moves["moves"],
        resolved_by_agent=resolved["agent"],
        resolved_by_staff=resolved["staff"],
        logged_hours=sum(row.logged_hours for row in staff),
        handling_hours=sum(row.handling_hours for row in staff),
        staff_hours=(
            Ticket.objects.filter(
                pk__in=WorkLog.objects.filter(started_at__gte=since).values("ticket_id")
            ).aggregate(seconds=Sum("handling_seconds"))["seconds"]
            or 0
        )
        / 3600,
        breaches=breaches,
        breached_open=sla.breached(
            Ticket.objects.filter(status__in=QUEUE_STATUSES, queue__isnull=False), now
        ).count(),
        staff=staff,
    )


def _staff_rows(since: datetime, now: datetime) -> list[StaffRow]:
    rows: dict[int, StaffRow] = {}
    logs = WorkLog.objects.filter(started_at__gte=since, user__isnull=False).select_related("user")
    for log in logs:
        assert log.user is not None
        row = rows.setdefault(log.user.pk, StaffRow(log.user))
        if log.kind == WorkKind.LOGGED:
            row.logged_hours += log.seconds / 3600
        else:
            seconds = log.seconds if log.ended_at else (now - log.started_at).total_seconds()
            row.handling_hours += seconds / 3600
    resolved = dict(
        StatusChange.objects.filter(
            created_at__gte=since, to_status=TicketStatus.RESOLVED, actor__isnull=False, actor_kind="staff"
        )
        .values_list("actor")
        .annotate(n=Count("pk"))
        .order_by()
    )
    missing = User.objects.in_bulk([pk for pk in resolved if pk not in rows])
    for pk, user in missing.items():
        rows[pk] = StaffRow(user)
    for pk, count in resolved.items():
        if pk in rows:
            rows[pk].resolved = count
    return sorted(rows.values(), key=lambda row: (-row.handling_hours - row.logged_hours, row.user.pk))
