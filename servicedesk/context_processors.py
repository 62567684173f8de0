from typing import Any

from django.http import HttpRequest

from servicedesk.roles import is_manager, is_service_desk


def roles(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {"is_service_desk": is_service_desk(user), "is_manager": is_manager(user)}
