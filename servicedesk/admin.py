from django.contrib import admin

from servicedesk.models import (
    AgentCorrection,
    CannedReply,
    Comment,
    Profile,
    Queue,
    RoutingChange,
    SlaBreach,
    StatusChange,
    Ticket,
)


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "lead"]
    list_select_related = ["lead"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "department", "title", "manager", "is_protected"]
    list_select_related = ["user", "manager"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "department"]


class CommentInline(admin.TabularInline):
    model = Comment
    extra = 0
    fields = readonly_fields = ("created_at", "author_kind", "author", "visibility", "body")
    can_delete = False


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    extra = 0
    fields = readonly_fields = ("created_at", "from_status", "to_status", "actor_kind", "actor")
    can_delete = False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only here: changes go through the services (the staff workspace), never a raw save."""

    list_display = ["id", "subject", "requester", "status", "queue", "escalation_reason", "created_at"]
    list_filter = ["status", "queue", "escalation_reason", "resolver_kind"]
    list_select_related = ["requester", "queue"]
    search_fields = ["subject", "description", "requester__username"]
    inlines = [StatusChangeInline, CommentInline]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    """Replies staff pick in the workspace and edit before sending."""

    list_display = ["title", "queue", "is_active", "position"]
    list_editable = ["is_active", "position"]
    list_filter = ["is_active", "queue"]
    search_fields = ["title", "body"]


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the staff workspace's services: shown here, never edited by hand."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(AgentCorrection)
class AgentCorrectionAdmin(_ReadOnlyAdmin):
    list_display = [
        "ticket",
        "wrong",
        "agent_action",
        "correct_action",
        "correct_queue",
        "reviewer",
        "updated_at",
    ]
    list_filter = ["wrong", "correct_queue"]
    list_select_related = ["ticket", "correct_queue", "reviewer"]


@admin.register(RoutingChange)
class RoutingChangeAdmin(_ReadOnlyAdmin):
    list_display = ["ticket", "from_queue", "to_queue", "actor", "created_at"]
    list_select_related = ["ticket", "from_queue", "to_queue", "actor"]


@admin.register(SlaBreach)
class SlaBreachAdmin(_ReadOnlyAdmin):
    list_display = ["ticket", "kind", "due_at", "detected_at", "priority_before", "priority_after"]
    list_filter = ["kind"]
    list_select_related = ["ticket"]
