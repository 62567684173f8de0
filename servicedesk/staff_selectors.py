"""Reads for the staff workspace. A list page runs the same number of queries whatever its size."""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from agents.models import AgentRun
from governance.directory import get_connector
from governance.directory.base import DirectoryError
from governance.models import ApprovalRequest, CatalogAction, DirectoryGroup, Execution, Software
from servicedesk import sla
from servicedesk.agent_view import Understanding, understanding
from servicedesk.models import (
    AgentCorrection,
    CannedReply,
    Comment,
    Priority,
    Queue,
    ResolverKind,
    Role,
    RoutingChange,
    SlaBreach,
    StatusChange,
    Ticket,
    TicketStatus,
    TicketView,
    Visibility,
    WorkKind,
    WorkLog,
)
from servicedesk.states import QUEUE_STATUSES

SCOPES = [("unassigned", "Unassigned"), ("mine", "Mine"), ("all", "All")]
STATES = [("open", "Open"), ("waiting", "Waiting"), ("done", "Resolved")]
SORTS = [("sla", "SLA due"), ("oldest", "Oldest first"), ("newest", "Newest first"), ("priority", "Priority")]
WAITING = frozenset({TicketStatus.AWAITING_REQUESTER, TicketStatus.AWAITING_APPROVAL})
DONE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}
_REFERENCE = re.compile(r"(?:sd-?)?0*(\d{1,9})", re.IGNORECASE)


@dataclass(frozen=True)
class QueueFilter:
    scope: str = "all"
    state: str = "open"
    q: str = ""
    sort: str = "sla"


def staff_members() -> QuerySet[User]:
    return (
        User.objects.filter(Q(groups__name=Role.SERVICE_DESK.value) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


# ---------------------------------------------------------------------------------------------
# Queue pages


def queue_tickets(*, user: User, queue: Queue | None, filters: QueueFilter) -> QuerySet[Ticket]:
    """One queue's tickets (every queue's when ``queue`` is None), filtered, searched and sorted, with
    what a row shows joined or annotated: requester, assignee, SLA due, when ``user`` last looked."""
    tickets = Ticket.objects.filter(queue__isnull=False) if queue is None else queue.tickets.all()
    statuses = {"waiting": WAITING, "done": DONE}.get(filters.state, QUEUE_STATUSES)
    tickets = tickets.filter(status__in=statuses)
    if filters.scope == "unassigned":
        tickets = tickets.filter(assignee__isnull=True)
    elif filters.scope == "mine":
        tickets = tickets.filter(assignee=user)
    tickets = _search(tickets, filters.q)
    last_public = Comment.objects.filter(ticket=OuterRef("pk"), visibility=Visibility.PUBLIC).order_by(
        "-created_at", "-id"
    )
    tickets = sla.with_sla(tickets).annotate(
        seen_at=Subquery(TicketView.objects.filter(user=user, ticket=OuterRef("pk")).values("seen_at")[:1]),
        last_public_by=Subquery(last_public.values("author_kind")[:1]),
    )
    tickets = tickets.select_related("requester__profile", "assignee", "queue")
    return tickets.order_by(*_ordering(filters.sort))


def _search(tickets: QuerySet[Ticket], text: str) -> QuerySet[Ticket]:
    text = text.strip()
    if not text:
        return tickets
    condition = Q(subject__icontains=text) | Q(description__icontains=text)
    if reference := _REFERENCE.fullmatch(text):
        condition |= Q(pk=int(reference.group(1)))
    return tickets.filter(condition)


def _ordering(sort: str) -> list[Any]:
    if sort == "oldest":
        return ["created_at", "id"]
    if sort == "newest":
        return ["-created_at", "-id"]
    if sort == "priority":
        rank = Case(
            *[When(priority=p, then=Value(r)) for p, r in PRIORITY_RANK.items()],
            output_field=IntegerField(),
        )
        return [rank.asc(), F("sla_due").asc(nulls_last=True), "id"]
    return [F("sla_due").asc(nulls_last=True), "created_at", "id"]


@dataclass
class QueueCount:
    open: int = 0
    unassigned: int = 0
    mine: int = 0
    breached: int = 0


def queue_counts(*, user: User) -> dict[int, QueueCount]:
    """Open tickets per queue id, in one query."""
    now = timezone.now()
    rows = (
        Ticket.objects.filter(status__in=QUEUE_STATUSES, queue__isnull=False)
        .values("queue_id")
        .annotate(
            n_open=Count("pk"),
            n_unassigned=Count("pk", filter=Q(assignee__isnull=True)),
            n_mine=Count("pk", filter=Q(assignee=user)),
            n_breached=Count("pk", filter=sla.breached_q(now)),
        )
        .order_by()
    )
    return {
        row["queue_id"]: QueueCount(row["n_open"], row["n_unassigned"], row["n_mine"], row["n_breached"])
        for row in rows
    }


def total_count(counts: dict[int, QueueCount]) -> QueueCount:
    total = QueueCount()
    for count in counts.values():
        total.open += count.open
        total.unassigned += count.unassigned
        total.mine += count.mine
        total.breached += count.breached
    return total


def marker(ticket: Ticket) -> str:
    """ "new" (never opened by you), "updated" (changed since you opened it) or ""."""
    seen_at = getattr(ticket, "seen_at", None)
    if seen_at is None:
        return "new"
    return "updated" if ticket.updated_at > seen_at else ""


# ---------------------------------------------------------------------------------------------
# The ticket workspace


def ticket_for_staff(*, ticket_id: int) -> Ticket | None:
    """A ticket with everything the workspace shows, in a fixed number of queries."""
    return (
        Ticket.objects.select_related(
            "requester__profile__manager", "assignee", "queue", "agent_correction__correct_queue"
        )
        .prefetch_related(
            Prefetch("comments", queryset=Comment.objects.select_related("author")),
            Prefetch("status_changes", queryset=StatusChange.objects.select_related("actor")),
            Prefetch(
                "routing_changes",
                queryset=RoutingChange.objects.select_related("from_queue", "to_queue", "actor"),
            ),
            Prefetch("work_logs", queryset=WorkLog.objects.select_related("user")),
            Prefetch("sla_breaches", queryset=SlaBreach.objects.all()),
            Prefetch("executions", queryset=Execution.objects.order_by("started_at", "id")),
            Prefetch("approvals", queryset=ApprovalRequest.objects.order_by("created_at", "id")),
            Prefetch("agent_runs", queryset=AgentRun.objects.order_by("-started_at", "-id"), to_attr="runs"),
        )
        .filter(pk=ticket_id)
        .first()
    )


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # comment | note | event | status | routing | execution | approval
    item: Any


def timeline(ticket: Ticket) -> list[Entry]:
    """Everything that happened to the ticket, oldest first, public and internal."""
    entries = []
    for comment in ticket.comments.all():
        kind = "comment" if comment.visibility == Visibility.PUBLIC else "note"
        if comment.author_kind == "system" and comment.visibility == Visibility.INTERNAL:
            kind = "event"
        entries.append(Entry(comment.created_at, kind, comment))
    entries += [Entry(c.created_at, "status", c) for c in ticket.status_changes.all() if c.from_status]
    entries += [Entry(r.created_at, "routing", r) for r in ticket.routing_changes.all()]
    entries += [Entry(e.started_at, "execution", e) for e in ticket.executions.all()]  # type: ignore[attr-defined]
    entries += [Entry(a.created_at, "approval", a) for a in ticket.approvals.all()]  # type: ignore[attr-defined]
    order = {"status": 0, "routing": 1, "event": 2, "approval": 3, "execution": 4, "comment": 5, "note": 5}
    return sorted(entries, key=lambda entry: (entry.at, order[entry.kind]))


def agent_understanding(ticket: Ticket) -> Understanding | None:
    runs = getattr(ticket, "runs", None)
    return understanding(runs[0] if runs else None)


@dataclass(frozen=True)
class DirectoryFacts:
    groups: list[str]
    software: list[str]
    locked: bool
    mfa_reset_pending: bool


def requester_directory(username: str) -> DirectoryFacts | None:
    """The requester's groups and software as the directory has them now; None if it cannot say."""
    try:
        state = get_connector().read_state(username)
    except DirectoryError:
        return None
    if not state.exists:
        return None
    return DirectoryFacts(sorted(state.groups), sorted(state.software), state.locked, state.mfa_reset_pending)


def other_tickets(ticket: Ticket) -> list[Ticket]:
    return list(
        Ticket.objects.filter(requester_id=ticket.requester_id)
        .exclude(pk=ticket.pk)
        .select_related("queue")
        .order_by("-created_at", "-id")[:5]
    )


def canned_replies(*, ticket: Ticket, staff: User) -> list[tuple[CannedReply, str]]:
    """Active canned replies for the ticket's queue, with their placeholders filled in."""
    replies = CannedReply.objects.filter(Q(queue__isnull=True) | Q(queue=ticket.queue_id), is_active=True)
    values = {
        "{requester_first_name}": ticket.requester.first_name or ticket.requester.get_username(),
        "{ticket_reference}": ticket.reference,
        "{staff_first_name}": staff.first_name or staff.get_username(),
    }
    filled = []
    for reply in replies:
        body = reply.body
        for placeholder, value in values.items():
            body = body.replace(placeholder, value)
        filled.append((reply, body))
    return filled


def draft_reply(*, ticket: Ticket, staff: User, understood: Understanding | None) -> str:
    """The agent's suggested reply, or a plain opening the staff member edits."""
    if understood and understood.suggested_reply:
        return understood.suggested_reply
    first = ticket.requester.first_name or ticket.requester.get_username()
    team = ticket.queue.name if ticket.queue else "service desk"
    return (
        f"Hi {first},\n\nThanks for your request about “{ticket.subject}”. I'm on the {team} team and "
        f"I'm looking into it now; I'll update you here.\n\n{staff.first_name or staff.get_username()}"
    )


@dataclass(frozen=True)
class Catalog:
    actions: list[tuple[str, str]]
    groups: list[str]
    software: list[tuple[str, int]]


def catalog() -> Catalog:
    """What a staff member can run from the workspace: the enabled catalog actions and their values."""
    return Catalog(
        actions=[
            (action.code, action.get_code_display())
            for action in CatalogAction.objects.filter(enabled=True).order_by("code")
        ],
        groups=list(DirectoryGroup.objects.order_by("name").values_list("name", flat=True)),
        software=list(Software.objects.order_by("name").values_list("name", "yearly_cost_usd")),
    )


@dataclass(frozen=True)
class Handling:
    handling: timedelta
    logged: timedelta
    open_since: datetime | None


def handling_time(ticket: Ticket, now: datetime) -> Handling:
    handling, logged, open_since = timedelta(0), timedelta(0), None
    for log in ticket.work_logs.all():
        if log.kind == WorkKind.LOGGED:
            logged += timedelta(seconds=log.seconds)
        elif log.ended_at is None:
            handling += now - log.started_at
            open_since = log.started_at
        else:
            handling += timedelta(seconds=log.seconds)
    return Handling(handling, logged, open_since)


# ---------------------------------------------------------------------------------------------
# Metrics


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
