from django.contrib import admin

from servicedesk.models import Comment, Profile, Queue, StatusChange, Ticket


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]


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
