from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from governance.selectors import pending_steps_for
from servicedesk.roles import is_manager, is_service_desk, is_staff_member, unread_notifications


def roles(request: HttpRequest) -> dict[str, Any]:
    """Who the user is, and the counts the navigation shows: unread notifications (loaded with the
    roles) and approvals waiting (lazy: only staff and managers see it)."""
    user = request.user
    context: dict[str, Any] = {
        "is_service_desk": is_service_desk(user),
        "is_manager": is_manager(user),
        "is_staff_member": is_staff_member(user),
    }
    if not user.is_authenticated:
        return context

    def approvals() -> int:
        if not (context["is_service_desk"] or context["is_manager"]):
            return 0
        return len(pending_steps_for(user))  # type: ignore[arg-type]

    context["unread_count"] = unread_notifications(user)  # counted with the roles: no query of its own
    context["approvals_count"] = SimpleLazyObject(approvals)
    return context
