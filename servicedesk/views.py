"""Employee pages: submit, follow, reply, confirm or reopen one's own tickets."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from servicedesk import selectors, services
from servicedesk.forms import ReopenForm, ReplyForm, TicketForm
from servicedesk.models import Ticket, TicketStatus
from servicedesk.notifications import notifications_mark_read
from servicedesk.roles import AuthenticatedRequest, is_staff_member
from servicedesk.throttles import TicketCreateThrottle

TICKETS_PER_PAGE = 20


@login_required
@require_safe
def home(request: AuthenticatedRequest) -> HttpResponse:
    return redirect("staff:home" if is_staff_member(request.user) else "servicedesk:ticket_list")


@login_required
@require_safe
def ticket_list(request: AuthenticatedRequest) -> HttpResponse:
    tickets = selectors.tickets_of_requester(requester=request.user)
    page = Paginator(tickets, TICKETS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "servicedesk/ticket_list.html", {"page": page})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def ticket_create(request: AuthenticatedRequest) -> HttpResponse:
    form = TicketForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttle = TicketCreateThrottle()
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]
            wait = int(throttle.wait() or 60)
            message = (
                "You have submitted many tickets in a short time. "
                f"Please try again in {wait // 60 + 1} minutes."
            )
            return render(
                request, "servicedesk/ticket_create.html", {"form": form, "throttled": message}, status=429
            )
        ticket = services.ticket_submit(requester=request.user, **form.cleaned_data)
        messages.success(request, f"Ticket {ticket.reference} submitted. We'll update it here.")
        return redirect("servicedesk:ticket_detail", ticket_id=ticket.pk)
    return render(request, "servicedesk/ticket_create.html", {"form": form})


def _own_ticket(request: AuthenticatedRequest, ticket_id: int) -> Ticket:
    ticket = selectors.ticket_for_requester(requester=request.user, ticket_id=ticket_id)
    if ticket is None:
        raise Http404("No such ticket.")
    return ticket


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def ticket_detail(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    ticket = _own_ticket(request, ticket_id)
    reply_form = ReplyForm(request.POST or None)
    if request.method == "POST" and reply_form.is_valid():
        try:
            services.comment_add_reply(
                ticket=ticket, author=request.user, body=reply_form.cleaned_data["body"]
            )
        except services.TicketError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Reply added.")
        return redirect("servicedesk:ticket_detail", ticket_id=ticket.pk)
    return render(
        request,
        "servicedesk/ticket_detail.html",
        {
            "ticket": ticket,
            "reply_form": reply_form,
            "reopen_form": ReopenForm(),
            "reopen_deadline": services.reopen_deadline(ticket),
            "timeline": _timeline(ticket),
            "can_reply": ticket.status != TicketStatus.CLOSED,
        },
    )


def _timeline(ticket: Ticket) -> list[dict[str, object]]:
    """Public replies and status changes, oldest first."""
    entries: list[dict[str, object]] = [
        {"kind": "comment", "at": comment.created_at, "comment": comment}
        for comment in ticket.public_comments  # type: ignore[attr-defined]
    ]
    entries += [
        {"kind": "status", "at": change.created_at, "change": change}
        for change in ticket.status_changes.all()
        if change.from_status  # creation is shown in the header
    ]
    return sorted(entries, key=lambda entry: (entry["at"], entry["kind"] == "comment"))


@login_required
@require_POST
def ticket_confirm(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    ticket = _own_ticket(request, ticket_id)
    try:
        services.ticket_confirm_resolution(ticket=ticket, user=request.user)
    except services.TicketError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Thanks for confirming. The ticket is closed.")
    return redirect("servicedesk:ticket_detail", ticket_id=ticket.pk)


@login_required
@require_POST
def ticket_reopen(request: AuthenticatedRequest, ticket_id: int) -> HttpResponse:
    ticket = _own_ticket(request, ticket_id)
    form = ReopenForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for error in form.errors["reason"]))
    else:
        try:
            services.ticket_reopen(ticket=ticket, user=request.user, reason=form.cleaned_data["reason"])
        except services.TicketError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Ticket reopened. The service desk will follow up.")
    return redirect("servicedesk:ticket_detail", ticket_id=ticket.pk)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def notifications(request: AuthenticatedRequest) -> HttpResponse:
    """The user's own notifications, newest first; "Mark all as read" is a POST."""
    if request.method == "POST":
        notifications_mark_read(recipient=request.user)
        return redirect("servicedesk:notifications")
    items = selectors.notifications_of(recipient=request.user)
    page = Paginator(items, TICKETS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "servicedesk/notifications.html", {"page": page})


@login_required
@require_GET
def notification_open(request: AuthenticatedRequest, notification_id: int) -> HttpResponse:
    """Follow a notification's link; following it marks it read (a link: GET only)."""
    item = selectors.notifications_of(recipient=request.user).filter(pk=notification_id).first()
    if item is None:
        raise Http404("No such notification.")
    notifications_mark_read(recipient=request.user, notification_id=item.pk)
    internal = item.url.startswith("/") and not item.url.startswith("//")  # never leave the site
    return redirect(item.url if internal else "servicedesk:notifications")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: an API client gets JSON for a URL that matches no route, as for any other
    API error (``{"detail": ...}``); people get the site's 404 page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
