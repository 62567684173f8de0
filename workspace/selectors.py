"""Reads for the staff workspace. A list page runs the same number of queries whatever its size."""

import re
from dataclasses import dataclass
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
    Value,
    When,
)
from django.utils import timezone

from agents.models import AgentRun
from governance.directory import get_connector
from governance.directory.base import DirectoryError
from governance.models import ApprovalRequest, CatalogAction, DirectoryGroup, Execution, Software
from servicedesk.models import (
    CannedReply,
    Comment,
    Priority,
    Queue,
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
from workspace import sla
from workspace.agent_view import Understanding, understanding

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
