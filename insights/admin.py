"""The managers' records in the admin: alerts (acknowledged by a manager), drift checks, rollups,
baselines, reviews. Read-only; acknowledging goes through ``insights.monitoring``."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import ReadOnly, admin_user
from governance import controls
from insights.models import Alert, Baseline, DailyRollup, DriftCheck, Review
from insights.monitoring import alert_acknowledge


@admin.register(Alert)
class AlertAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "rule",
        "subject",
        "message",
        "paused",
        "acknowledged_by",
        "acknowledged_at",
    ]
    list_filter = ["kind", "rule", ("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["acknowledged_by"]
    actions = ["acknowledge"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found = super().get_actions(request)
        if not controls.can_control_agent(request.user):
            found.pop("acknowledge", None)
        return found

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        done = sum(alert_acknowledge(alert_id=alert.pk, by=admin_user(request)) for alert in queryset)
        self.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS)


@admin.register(DriftCheck)
class DriftCheckAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["created_at", "dimension", "psi", "chi2", "p_value", "drifted"]
    list_filter = ["dimension", "drifted"]


@admin.register(DailyRollup)
class DailyRollupAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "day",
        "queue",
        "action",
        "resolver",
        "tickets",
        "autonomous",
        "escalated",
        "agent_errors",
    ]
    list_filter = ["resolver", "action", "queue"]
    date_hierarchy = "day"


@admin.register(Baseline)
class BaselineAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "name",
        "source",
        "period_start",
        "period_end",
        "monthly_volume",
        "error_rate",
        "created_at",
    ]


@admin.register(Review)
class ReviewAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["name", "kind", "period_start", "period_end", "baseline", "thresholds_set_at"]
    list_select_related = ["baseline"]
