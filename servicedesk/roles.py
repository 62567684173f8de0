"""Who is who: roles are Django groups (see ``Role``)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework.request import Request

from servicedesk.models import Notification, Role


def _load_facts(user: AbstractBaseUser) -> set[str]:
    """The user's groups and unread notifications in one query, cached on the user object for the
    request: every page's navigation needs both, and templates ask several times per page."""
    unread = (
        Notification.objects.filter(recipient=OuterRef("pk"), read_at__isnull=True)
        .order_by()
        .values("recipient")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = list(
        get_user_model()
        ._default_manager.filter(pk=user.pk)
        .annotate(unread=Coalesce(Subquery(unread), 0))
        .values_list("groups__name", "unread")
    )
    names = {name for name, _ in rows if name}
    setattr(user, "_role_cache", names)  # noqa: B010
    setattr(user, "_unread_cache", rows[0][1] if rows else 0)  # noqa: B010
    return names


def has_role(user: AbstractBaseUser | AnonymousUser, role: Role) -> bool:
    if not user.is_authenticated:
        return False
    cache: set[str] | None = getattr(user, "_role_cache", None)
    if cache is None:
        cache = _load_facts(user)  # type: ignore[arg-type]
    return role.value in cache


def unread_notifications(user: AbstractBaseUser | AnonymousUser) -> int:
    """Unread notifications, as counted with the roles (no query of its own once roles are known)."""
    if not user.is_authenticated:
        return 0
    if getattr(user, "_unread_cache", None) is None:
        _load_facts(user)  # type: ignore[arg-type]
    return int(getattr(user, "_unread_cache", 0))


def is_service_desk(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, Role.SERVICE_DESK)


def is_manager(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, Role.MANAGER)


def is_staff_member(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Who may work the queues: the service-desk group, and superusers."""
    return bool(getattr(user, "is_superuser", False)) or is_service_desk(user)


class AuthenticatedRequest(HttpRequest):
    """The request type of views behind ``login_required``."""

    user: User


def request_user(request: HttpRequest | Request) -> User:
    """The signed-in user of an API request; permission classes have refused anonymous ones already."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def staff_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Staff pages: anonymous users go to the login page, everyone else who is not staff gets 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_staff_member(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
