"""Governance in the admin: managers edit the catalog and work the kill switch; staff look.

Who may do what is decided here, not by Django's per-model permissions (the demo organisation has
none): anyone who may open the admin (``is_staff``) may view; only ``controls.can_control_agent``
(managers, superusers) may change. Every change goes through ``governance.controls``, which audits it:
there is no raw ``save()`` here. The audit trail and the built-in directory are read-only.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import URLPattern, path, reverse

from core.admin import ReadOnly, admin_user, inline_template, is_staff
from core.audit import CODES
from core.models import AuditEvent
from governance import controls
from governance.models import (
    AgentControl,
    ApprovalRequest,
    ApprovalStep,
    CatalogAction,
    DirectoryAccount,
    DirectoryGroup,
    DirectoryMembership,
    Execution,
    ResetToken,
    Software,
    SoftwareAssignment,
)

KILL_SWITCH_CODES = ("agent.paused", "agent.resumed", "action.paused", "action.resumed")


class StaffViewManagerChange:
    """Staff may look; managers may add, change and delete."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_staff(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff(request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return controls.can_control_agent(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return controls.can_control_agent(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return controls.can_control_agent(request.user)


# The catalog ---------------------------------------------------------------------------------------


class AuditedCatalogAdmin(StaffViewManagerChange, admin.ModelAdmin):
    """Saves and deletes go through ``controls.catalog_change_record``: each one is audited."""

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        if not change:
            controls.catalog_change_record(by=admin_user(request), instance=obj, operation="add")
            return
        # The form has already copied the new values onto ``obj``; the service re-reads the row to
        # record what it held before.
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        controls.catalog_change_record(
            by=admin_user(request), instance=obj, operation="change", changes=changes
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        controls.catalog_change_record(by=admin_user(request), instance=obj, operation="delete")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(CatalogAction)
class CatalogActionAdmin(AuditedCatalogAdmin):
    list_display = ["code", "enabled", "paused", "hourly_budget", "requires_staff_approval", "queue"]
    list_filter = ["enabled", "paused"]
    list_select_related = ["queue"]
    # Pausing is the kill switch's job (audited as such), never a catalog edit.
    readonly_fields = ["paused", "paused_reason", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, "code"] if obj is not None else list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # disable an action instead: the catalog keeps its configuration


class DirectoryGroupForm(forms.ModelForm):
    class Meta:
        model = DirectoryGroup
        fields = ["name", "description", "tier", "standard_for_departments", "aliases"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        problem = controls.group_tier_problem(
            tier=cleaned.get("tier"), departments=cleaned.get("standard_for_departments")
        )
        if problem:
            self.add_error("standard_for_departments", problem)
        return cleaned


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(AuditedCatalogAdmin):
    form = DirectoryGroupForm
    list_display = ["name", "tier", "description"]
    list_filter = ["tier"]
    search_fields = ["name", "description"]


@admin.register(Software)
class SoftwareAdmin(AuditedCatalogAdmin):
    list_display = ["name", "yearly_cost_usd"]
    search_fields = ["name"]


# The kill switch -----------------------------------------------------------------------------------


class KillSwitchForm(forms.Form):
    reason = forms.CharField(max_length=controls.REASON_MAX_LENGTH, strip=True)
    action = forms.CharField(required=False)


KILL_SWITCH_PAGE = """{% extends "admin/base_site.html" %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'admin:index' %}">Home</a>
&rsaquo; <a href="{% url 'admin:app_list' 'governance' %}">Governance</a> &rsaquo; Kill switch</div>
{% endblock %}
{% block content %}<div id="content-main">
<h2>Agent</h2>
<p id="agent-state"><strong>{{ agent.paused|yesno:"Paused,Running" }}</strong>{% if agent.reason %}:
{{ agent.reason }}{% endif %}{% if agent.changed_by %} (by {{ agent.changed_by }},
{{ agent.changed_at }}){% endif %}</p>
{% if can_control %}
<form method="post" action="{% if agent.paused %}{{ resume_url }}{% else %}{{ pause_url }}{% endif %}">
{% csrf_token %}<label>Reason <input type="text" name="reason" maxlength="500" size="60" required></label>
<input type="submit" value="{% if agent.paused %}Resume the agent{% else %}Pause the agent{% endif %}">
</form>
{% else %}<p>Only managers may pause or resume the agent.</p>{% endif %}
<h2>Actions</h2>
<table id="actions"><thead><tr><th>Action</th><th>Enabled</th><th>State</th><th>Reason</th>
{% if can_control %}<th></th>{% endif %}</tr></thead><tbody>
{% for a in actions %}<tr><td>{{ a.code }}</td><td>{{ a.enabled|yesno }}</td>
<td>{{ a.paused|yesno:"paused,running" }}</td><td>{{ a.reason }}</td>
{% if can_control %}<td>
<form method="post" action="{% if a.paused %}{{ resume_url }}{% else %}{{ pause_url }}{% endif %}">
{% csrf_token %}<input type="hidden" name="action" value="{{ a.code }}">
<input type="text" name="reason" maxlength="500" placeholder="reason" required>
<input type="submit" value="{% if a.paused %}Resume{% else %}Pause{% endif %}"></form></td>{% endif %}
</tr>{% empty %}<tr><td colspan="5">The catalog is empty.</td></tr>{% endfor %}
</tbody></table>
<h2>Recent changes</h2>
<table id="recent"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Reason</th></tr></thead><tbody>
{% for e in recent %}<tr><td>{{ e.created_at }}</td><td>{{ e.actor_label }}</td><td>{{ e.text }}
{% if e.data.action %}({{ e.data.action }}){% endif %}</td><td>{{ e.data.reason }}</td></tr>
{% empty %}<tr><td colspan="4">No changes yet.</td></tr>{% endfor %}
</tbody></table>
</div>{% endblock %}
"""


@admin.register(AgentControl)
class AgentControlAdmin(ReadOnly, admin.ModelAdmin):
    """The list page is the kill switch: the global state, each action's, and the pause forms."""

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("pause/", wrap(self.pause_view), name="governance_killswitch_pause"),
            path("resume/", wrap(self.resume_view), name="governance_killswitch_resume"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        state = controls.kill_switch_state()
        recent = AuditEvent.objects.filter(code__in=KILL_SWITCH_CODES).order_by("-id")[:10]
        context = {
            **self.admin_site.each_context(request),
            "title": "Kill switch",
            "opts": self.opts,
            "agent": state["agent"],
            "actions": state["actions"],
            "recent": [
                {
                    "created_at": e.created_at,
                    "actor_label": e.actor_label,
                    "text": CODES.get(e.code, e.code),
                    "data": e.data,
                }
                for e in recent
            ],
            "can_control": controls.can_control_agent(request.user),
            "pause_url": reverse("admin:governance_killswitch_pause"),
            "resume_url": reverse("admin:governance_killswitch_resume"),
        }
        return HttpResponse(inline_template(KILL_SWITCH_PAGE).render(context, request))

    def pause_view(self, request: HttpRequest) -> HttpResponse:
        return self._toggle(request, pause=True)

    def resume_view(self, request: HttpRequest) -> HttpResponse:
        return self._toggle(request, pause=False)

    def _toggle(self, request: HttpRequest, *, pause: bool) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not controls.can_control_agent(request.user):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:governance_agentcontrol_changelist"))
        form = KillSwitchForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(request, f"{field}: {' '.join(str(e) for e in errors)}")
            return back
        reason, code = form.cleaned_data["reason"], form.cleaned_data["action"] or None
        try:
            if code is None:
                (controls.agent_pause if pause else controls.agent_resume)(
                    by=admin_user(request), reason=reason
                )
            else:
                service = controls.action_pause if pause else controls.action_resume
                service(code=code, by=admin_user(request), reason=reason)
        except controls.ControlError as error:
            messages.error(request, f"{error.field}: {error}")
            return back
        what = code or "the agent"
        messages.success(request, f"{'Paused' if pause else 'Resumed'} {what}.")
        return back


# Read-only records: approvals, executions and the built-in directory -------------------------------


class ApprovalStepInline(ReadOnly, admin.TabularInline):
    model = ApprovalStep
    extra = 0
    fields = readonly_fields = ("role", "approver", "decision", "decided_by", "reason", "decided_at")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "ticket", "requester", "action", "status", "created_at", "expires_at"]
    list_filter = ["status", "action"]
    list_select_related = ["ticket", "requester"]
    inlines = [ApprovalStepInline]


@admin.register(Execution)
class ExecutionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "ticket", "action", "status", "connector", "attempts", "started_at"]
    list_filter = ["status", "action", "connector"]
    list_select_related = ["ticket"]


@admin.register(DirectoryAccount)
class DirectoryAccountAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["username", "display_name", "department", "protected", "locked", "mfa_enrolled"]
    list_filter = ["department", "protected", "locked"]
    search_fields = ["username", "display_name", "email"]


@admin.register(DirectoryMembership)
class DirectoryMembershipAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["account", "group", "created_at"]
    list_filter = ["group"]
    list_select_related = ["account", "group"]
    search_fields = ["account__username"]


@admin.register(SoftwareAssignment)
class SoftwareAssignmentAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["account", "software", "created_at"]
    list_filter = ["software"]
    list_select_related = ["account", "software"]
    search_fields = ["account__username"]


@admin.register(ResetToken)
class ResetTokenAdmin(ReadOnly, admin.ModelAdmin):
    """Never the token's hash: what a link was issued, to whom and when is enough."""

    list_display = ["username", "channel", "created_at", "expires_at", "used_at"]
    fields = readonly_fields = ("username", "channel", "created_at", "expires_at", "used_at")
    search_fields = ["username"]
