"""Who is who: roles are Django groups (see ``Role``)."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request

from servicedesk.models import Role


def has_role(user: AbstractBaseUser | AnonymousUser, role: Role) -> bool:
    if not user.is_authenticated:
        return False
    # Cached on the user object for the request: templates ask several times per page.
    cache: set[str] | None = getattr(user, "_role_cache", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        setattr(user, "_role_cache", cache)  # noqa: B010
    return role.value in cache


def is_service_desk(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, Role.SERVICE_DESK)


def is_manager(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, Role.MANAGER)


class AuthenticatedRequest(HttpRequest):
    """The request type of views behind ``login_required``."""

    user: User


def request_user(request: HttpRequest | Request) -> User:
    """The signed-in user of an API request; permission classes have refused anonymous ones already."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
