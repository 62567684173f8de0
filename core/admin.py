"""Admin helpers every app's admin uses, and the audit browser (read-only; exports what it shows)."""

import json
from functools import cache
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.template import engines
from django.template.backends.django import Template
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.audit import CODES
from core.audit_export import CONTENT_TYPES, FORMATS, export_lines
from core.models import AuditEvent


def is_staff(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_active and getattr(user, "is_staff", False))


def admin_user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


@cache
def inline_template(source: str) -> Template:
    template = engines["django"].from_string(source)
    assert isinstance(template, Template)
    return template


class ReadOnly:
    """Anyone who may open the admin may look; nobody changes anything here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_staff(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff(request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The audit trail -----------------------------------------------------------------------------------


class CodeFilter(admin.SimpleListFilter):
    title = "event"
    parameter_name = "code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(code, f"{text} ({code})") for code, text in CODES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(code=value) if value else queryset


AUDIT_CHANGE_LIST = """{% extends "admin/change_list.html" %}
{% block object-tools-items %}{% for label, url in export_links %}
<li><a href="{{ url }}">{{ label }}</a></li>{% endfor %}{% endblock %}
"""


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly, admin.ModelAdmin):
    """The audit browser. The export links take the filters shown (code, actor, dates, search)."""

    list_display = ["id", "created_at", "code", "text", "actor_kind", "actor_label", "ticket_id"]
    list_filter = [CodeFilter, "actor_kind", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["actor_label", "code", "ticket_id__exact"]
    show_full_result_count = False
    fields = readonly_fields = (
        "id",
        "created_at",
        "code",
        "text",
        "actor_kind",
        "actor_id",
        "actor_label",
        "ticket_id",
        "data_json",
        "prev_hash",
        "hash",
    )
    actions = ["export_jsonl", "export_csv"]

    @admin.display(description="What happened")
    def text(self, obj: AuditEvent) -> str:
        return CODES.get(obj.code, obj.code)

    @admin.display(description="Data")
    def data_json(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, ensure_ascii=False))

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export/<str:fmt>/",
            self.admin_site.admin_view(self.export_view),
            name="core_auditevent_export",
        )
        return [export, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        query = request.GET.urlencode()
        links = [
            (f"Export {fmt.upper()}", reverse("admin:core_auditevent_export", args=[fmt]) + f"?{query}")
            for fmt in FORMATS
        ]
        response = super().changelist_view(request, {**(extra_context or {}), "export_links": links})
        if isinstance(response, TemplateResponse) and not response.is_rendered:
            response.template_name = inline_template(AUDIT_CHANGE_LIST)
        return response

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse | StreamingHttpResponse:
        """The events the list shows with the same filters, every page, in id order."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if fmt not in FORMATS:
            return HttpResponseBadRequest(f"unknown format {fmt!r}")
        try:
            queryset = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("invalid filter")
        return _export_response(queryset, fmt)

    @admin.action(description="Export selected events as JSON lines")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> StreamingHttpResponse:
        return _export_response(queryset, "jsonl")

    @admin.action(description="Export selected events as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> StreamingHttpResponse:
        return _export_response(queryset, "csv")


def _export_response(queryset: QuerySet[AuditEvent], fmt: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export_lines(queryset, fmt), content_type=CONTENT_TYPES[fmt])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.{fmt}"'
    return response
