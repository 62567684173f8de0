"""Service-desk staff pages: team queues, the ticket workspace, metrics. Thin: parse, check, call."""

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.redact import redact
from governance.types import Outcome
from servicedesk.models import AuthorKind, Queue, Ticket, TicketStatus
from servicedesk.roles import AuthenticatedRequest, staff_required
from servicedesk.services import TicketError
from servicedesk.states import QUEUE_STATUSES, STAFF_SETTABLE, WITH_STAFF_STATUSES, can_transition
from workspace import agent_actions, sla
from workspace import selectors as staff_selectors
from workspace import services as staff_services
from workspace.corrections import evaluation_lines
from workspace.forms import (
    QUEUE_CHOICES,
    AssignForm,
    CatalogActionForm,
    CommentForm,
    CorrectionForm,
    MoveForm,
    PriorityForm,
    QueueFilterForm,
    ResolveForm,
    StaffReopenForm,
    StatusForm,
)
from workspace.metrics import workspace_metrics

STATUS_CHOICE_LABELS = {
    TicketStatus.IN_PROGRESS: "In progress",
    TicketStatus.AWAITING_REQUESTER: "Awaiting requester (their answer comes to you)",
    TicketStatus.ESCALATED: "Back to the queue, unassigned",
}


def _sidebar(request: AuthenticatedRequest) -> dict[str, Any]:
    counts = staff_selectors.queue_counts(user=request.user)
    return {
        "queues": [
            (queue, counts.get(queue.pk, staff_selectors.QueueCount())) for queue in Queue.objects.all()
        ],
        "total": staff_selectors.total_count(counts),
    }


@staff_required
@require_GET
def queue(request: AuthenticatedRequest, slug: str | None = None) -> HttpResponse:
    sidebar = _sidebar(request)
    current = next((q for q, _ in sidebar["queues"] if q.slug == slug), None)
    if slug is not None and current is None:
        raise Http404("No such queue.")
    form = QueueFilterForm(request.GET)
    filters = form.filters()
    tickets = staff_selectors.queue_tickets(user=request.user, queue=current, filters=filters)
    per_page = form.per_page_or(settings.STAFF_QUEUE_PAGE_SIZE)
    page = Paginator(tickets, per_page).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [
        {"ticket": t, "marker": staff_selectors.marker(t), "clock": sla.running_clock(t)}
        for t in page.object_list
    ]
    counts = next((c for q, c in sidebar["queues"] if q == current), sidebar["total"])
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "staff/queue.html",
        {
            **sidebar,
            "current": current,
            "section": "mine" if current is None and filters.scope == "mine" else "queue",
            "counts": counts,
            "filters": filters,
            "form": form,
            "page": page,
            "rows": rows,
            "now": now,
            "query": query.urlencode(),
            "scopes": staff_selectors.SCOPES,
            "states": staff_selectors.STATES,
            "sorts": staff_selectors.SORTS,
        },
    )


def _workspace_forms(request: AuthenticatedRequest, ticket: Ticket) -> dict[str, Any]:
    catalog = staff_selectors.catalog()
    canned = staff_selectors.canned_replies(ticket=ticket, staff=request.user)
    chosen = next((body for reply, body in canned if str(reply.pk) == request.GET.get("canned")), "")
    return {
        "catalog": catalog,
        "canned": canned,
        "comment_form": CommentForm(initial={"body": chosen, "visibility": "public"}),
        "staff": list(staff_selectors.staff_members()),
        "priority_form": PriorityForm(initial={"priority": ticket.priority}),
        "status_choices": [
            (status, STATUS_CHOICE_LABELS[status])
            for status in STAFF_SETTABLE
            if can_transition(ticket.status, status)
        ],
        "queue_choices": QUEUE_CHOICES,
        "action_form": CatalogActionForm(
            actions=catalog.actions, groups=catalog.groups, software=catalog.software
        ),
        "correction_form": CorrectionForm(groups=catalog.groups, software=catalog.software),
    }


@staff_required
@require_GET
def ticket(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    found = staff_selectors.ticket_for_staff(ticket_id=ticket_id)
    if found is None:
        raise Http404("No such ticket.")
    now = timezone.now()
    understood = staff_selectors.agent_understanding(found)
    request_text = redact(found.description)
    context = {
        **_workspace_forms(request, found),
        "ticket": found,
        "request_subject": redact(found.subject),
        "request_text": request_text,
        "request_masked": request_text != found.description,
        "now": now,
        "timeline": _masked(staff_selectors.timeline(found)),
        "agent": understood,
        "suggested_reply": staff_selectors.draft_reply(
            ticket=found, staff=request.user, understood=understood
        ),
        "correction": getattr(found, "agent_correction", None),
        "directory": staff_selectors.requester_directory(found.requester.get_username()),
        "other_tickets": staff_selectors.other_tickets(found),
        "clocks": sla.clocks(found),
        "handling": staff_selectors.handling_time(found, now),
        "is_open": found.status in QUEUE_STATUSES,
        "can_run_actions": found.status in WITH_STAFF_STATUSES,
    }
    staff_services.ticket_view_record(ticket_id=found.pk, user=request.user)
    return render(request, "staff/ticket.html", context)


def _masked(entries: list[staff_selectors.Entry]) -> list[staff_selectors.Entry]:
    """Passwords and keys a requester typed are masked on the page: staff never need them (and must
    never use them), and a screen is read over shoulders. The stored text keeps what was written."""
    shown = []
    for entry in entries:
        comment = entry.item
        if entry.kind == "comment" and comment.author_kind == AuthorKind.REQUESTER:
            body = redact(comment.body)
            if body != comment.body:
                comment = copy.copy(comment)  # a display copy: never saved
                comment.body = body
                entry = dataclasses.replace(entry, item=comment)
        shown.append(entry)
    return shown


def _act(request: AuthenticatedRequest, ticket_id: int, form: Form, call: Callable[[], str]) -> HttpResponse:
    """Validate, call one service, say what happened, go back to the workspace."""
    get_object_or_404(Ticket.objects.only("pk"), pk=ticket_id)
    if not form.is_valid():
        errors = [str(error) for field_errors in form.errors.values() for error in field_errors]
        messages.error(request, " ".join(errors))
    else:
        try:
            messages.success(request, call())
        except TicketError as error:
            messages.error(request, str(error))
    return redirect("staff:ticket", ticket_id=ticket_id)


@staff_required
@require_POST
def ticket_claim(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    def call() -> str:
        staff_services.ticket_claim(ticket_id=ticket_id, user=request.user)
        return "You have the ticket."

    return _act(request, ticket_id, Form({}), call)


@staff_required
@require_POST
def ticket_assign(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    form = AssignForm(request.POST, staff=staff_selectors.staff_members())

    def call() -> str:
        assignee = form.cleaned_data["assignee"]
        staff_services.ticket_assign(ticket_id=ticket_id, assignee=assignee, actor=request.user)
        return f"Assigned to {staff_services.display_name(assignee)}."

    return _act(request, ticket_id, form, call)


@staff_required
@require_POST
def ticket_comment(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    form = CommentForm(request.POST)

    def call() -> str:
        internal = form.cleaned_data["visibility"] == "internal"
        staff_services.staff_comment_add(
            ticket_id=ticket_id,
            author=request.user,
            body=form.cleaned_data["body"],
            internal=internal,
            minutes=form.cleaned_data["minutes"] or 0,
        )
        return "Internal note added." if internal else "Reply sent to the requester."

    return _act(request, ticket_id, form, call)


@staff_required
@require_POST
def ticket_priority(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    form = PriorityForm(request.POST)

    def call() -> str:
        staff_services.ticket_priority_set(
            ticket_id=ticket_id, priority=form.cleaned_data["priority"], actor=request.user
        )
        return "Priority updated."

    return _act(request, ticket_id, form, call)


@staff_required
@require_POST
def ticket_status(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    form = StatusForm(request.POST)

    def call() -> str:
        status = form.cleaned_data["status"]
        staff_services.ticket_status_set(ticket_id=ticket_id, status=status, actor=request.user)
        return f"Status: {TicketStatus(status).label}."

    return _act(request, ticket_id, form, call)


@staff_required
@require_POST
def ticket_resolve(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    form = ResolveForm(request.POST)

    def call() -> str:
        staff_services.ticket_resolve(
            ticket_id=ticket_id,
            actor=request.user,
            message=form.cleaned_data["message"],
            minutes=form.cleaned_data["minutes"] or 0,
        )
        return "Resolved. The requester has been told."

    return _act(request, ticket_id, form, call)


@staff_required
@require_POST
def ticket_reopen(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    form = StaffReopenForm(request.POST)

    def call() -> str:
        staff_services.ticket_reopen_by_staff(
            ticket_id=ticket_id, actor=request.user, reason=form.cleaned_data["reason"]
        )
        return "Reopened."

    return _act(request, ticket_id, form, call)


@staff_required
@require_POST
def ticket_move(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    form = MoveForm(request.POST)

    def call() -> str:
        moved = staff_services.ticket_move(
            ticket_id=ticket_id,
            queue_slug=form.cleaned_data["queue"],
            actor=request.user,
            note=form.cleaned_data["note"],
        )
        name = moved.queue.name if moved.queue else "another queue"
        return f"Moved to {name} (counted as a routing correction)."

    return _act(request, ticket_id, form, call)


@staff_required
@require_POST
def ticket_action(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    catalog = staff_selectors.catalog()
    form = CatalogActionForm(
        request.POST, actions=catalog.actions, groups=catalog.groups, software=catalog.software
    )

    def call() -> str:
        decision = agent_actions.catalog_action_run(
            ticket_id=ticket_id, actor=request.user, action=form.cleaned_data["action"], params=form.params()
        )
        if decision.outcome == Outcome.EXECUTE:
            return "Allowed by policy: the executor is carrying it out (see the timeline)."
        if decision.outcome == Outcome.NEEDS_APPROVAL:
            return "Policy asks for an approval first: the approvers have been notified."
        raise TicketError(f"Governance says a person decides: {decision.reason}. Nothing was changed.")

    return _act(request, ticket_id, form, call)


@staff_required
@require_POST
def ticket_correction(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    catalog = staff_selectors.catalog()
    form = CorrectionForm(request.POST, groups=catalog.groups, software=catalog.software)

    def call() -> str:
        data = form.cleaned_data
        agent_actions.agent_correction_record(
            ticket_id=ticket_id,
            reviewer=request.user,
            wrong=data["verdict"] == "wrong",
            correct_action=data["correct_action"],
            correct_params=form.params(),
            correct_queue_slug=data["correct_queue"],
            note=data["note"],
        )
        return "Thanks: your verdict on the agent is recorded."

    return _act(request, ticket_id, form, call)


@staff_required
@require_GET
def metrics(request: AuthenticatedRequest) -> HttpResponse:
    days = 7 if request.GET.get("days") == "7" else 30
    return render(
        request,
        "staff/metrics.html",
        {**_sidebar(request), "metrics": workspace_metrics(days=days), "days": days},
    )


@staff_required
@require_GET
def corrections_export(request: AuthenticatedRequest) -> StreamingHttpResponse:
    wrong_only = request.GET.get("wrong") == "1"
    response = StreamingHttpResponse(
        evaluation_lines(wrong_only=wrong_only), content_type="application/jsonl; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="agent-corrections-{stamp}.jsonl"'
    return response
