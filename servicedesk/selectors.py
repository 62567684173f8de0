"""Reads that join, for the pages and the API."""

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet

from servicedesk.models import Comment, Notification, StatusChange, Ticket, Visibility


def tickets_of_requester(*, requester: User) -> QuerySet[Ticket]:
    return Ticket.objects.filter(requester=requester).select_related("queue")


def ticket_for_requester(*, requester: User, ticket_id: int) -> Ticket | None:
    """The requester's own ticket with its public replies; None for anyone else's (shown as 404)."""
    return (
        tickets_of_requester(requester=requester)
        .prefetch_related(
            Prefetch(
                "comments",
                queryset=Comment.objects.filter(visibility=Visibility.PUBLIC).select_related("author"),
                to_attr="public_comments",
            ),
            Prefetch("status_changes", queryset=StatusChange.objects.order_by("created_at", "id")),
        )
        .filter(pk=ticket_id)
        .first()
    )


def public_comments(*, ticket: Ticket) -> QuerySet[Comment]:
    return ticket.comments.filter(visibility=Visibility.PUBLIC).select_related("author")


def notifications_of(*, recipient: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=recipient)
