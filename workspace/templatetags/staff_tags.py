"""Small helpers for the staff pages: durations, SLA chips, initials, query strings."""

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.http import QueryDict
from django.utils import dateformat, timezone

from workspace.sla import Clock

register = template.Library()

# Status names for staff: the requester's labels ("With the service desk") say where the ticket is
# from their side; staff want what it means for the queue.
STAFF_STATUS = {
    "new": "New",
    "triaging": "With the agent",
    "awaiting_approval": "Awaiting approval",
    "awaiting_requester": "Awaiting requester",
    "escalated": "Escalated",
    "in_progress": "In progress",
    "resolved": "Resolved",
    "closed": "Closed",
    "reopened": "Reopened",
}


@register.filter
def staff_status(status: str) -> str:
    return STAFF_STATUS.get(status, status)


@register.filter
def duration(value: timedelta | None) -> str:
    """``3d 4h``, ``2h 15m``, ``45m``: the two largest units, never seconds."""
    if value is None:
        return ""
    minutes = max(int(abs(value).total_seconds()) // 60, 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


@register.filter
def age(since: datetime | None, now: datetime) -> str:
    """How long ago, compactly: ``3h 10m``, ``2d 4h``."""
    return duration(now - since) if since else ""


@register.filter
def hours(value: float | None) -> str:
    return "\u2013" if value is None else f"{value:.1f} h"


@register.filter
def percent(value: float | None) -> str:
    return "\u2013" if value is None else f"{value * 100:.1f}%"


@register.filter
def initials(user: Any) -> str:
    if user is None:
        return ""
    first, last = (user.first_name or "")[:1], (user.last_name or "")[:1]
    return (first + last).upper() or user.get_username()[:2].upper()


@register.inclusion_tag("staff/_sla.html")
def sla_chip(clock: Clock | None, now: datetime, long: bool = False) -> dict[str, Any]:
    """The chip a queue row or the workspace shows for one SLA timer."""
    if clock is None:
        return {"state": "none", "text": "—", "title": "No SLA timer running"}
    state = clock.state(now)
    due = dateformat.format(timezone.localtime(clock.due_at), "j M, H:i")
    prefix = f"{clock.label}: " if long else ""
    if state in {"met", "missed"}:
        assert clock.done_at is not None
        text = "Met" if state == "met" else f"Missed by {duration(clock.done_at - clock.due_at)}"
        return {"state": state, "text": prefix + text, "title": f"{clock.label} target {due}"}
    left = clock.left(now)
    if state == "paused":
        title = f"Waiting on the requester: the {clock.label.lower()} clock is stopped"
        text = f"Paused, {duration(left)} left" if left >= timedelta(0) else f"Paused, {duration(left)} over"
        return {"state": state, "text": prefix + text, "title": title}
    text = f"{duration(left)} left" if state != "breached" else f"Breached {duration(left)} ago"
    return {"state": state, "text": prefix + text, "title": f"{clock.label} due {due}"}


@register.simple_tag
def query(current: QueryDict, **changes: Any) -> str:
    """``?`` + the current query string with ``changes`` applied (None removes a key); page resets."""
    params = current.copy()
    params.pop("page", None)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
